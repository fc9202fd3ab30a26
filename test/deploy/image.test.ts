import { spawn } from "node:child_process";
import { describe, expect, inject, it } from "vitest";
import { ACTOR_NAMES } from "@toolformer/cli";
import { firstConnection, stderrUntilConnected, typeStripping } from "../support/compile-cache-log.ts";
import { podman } from "./podman.ts";

const MB = 1_000_000;

describe("the image (deploy/Containerfile)", () => {
  const image = inject("image");

  it("weighs 250 MB at most, without the dev dependencies", async () => {
    expect(inject("imageBytes")).toBeLessThanOrEqual(250 * MB);
    const listing = await podman([
      "run",
      "--rm",
      "--entrypoint",
      "sh",
      image,
      "-c",
      "ls /app/node_modules; ls /usr/local/lib/node_modules 2>/dev/null || true",
    ]);
    for (const dev of ["vitest", "typescript", "eslint", "prettier", "turbo", "node"])
      expect(listing.split("\n")).not.toContain(dev);
  });

  it("is labelled, runs as a non-root user, and its Node is 24 from the base image", async () => {
    const [inspected] = JSON.parse(await podman(["image", "inspect", image])) as {
      Config: { User: string; Labels: Record<string, string>; Entrypoint: string[] };
    }[];
    expect(inspected?.Config.User).toBe("1000:1000");
    expect(inspected?.Config.Labels["org.opencontainers.image.title"]).toBe("toolformer");
    expect(inspected?.Config.Labels["org.opencontainers.image.revision"]).toMatch(/^[0-9a-f]{40}$/);
    expect(inspected?.Config.Labels["org.opencontainers.image.base.name"]).toBe(
      "docker.io/library/node:24.21.0-bookworm-slim",
    );
    expect(inspected?.Config.Entrypoint.slice(0, 2)).toEqual(["/usr/local/bin/tini", "--"]);
    expect(await podman(["run", "--rm", "--entrypoint", "node", image, "--version"])).toMatch(/^v24\./);
  });

  it("starts every actor from the compile cache it ships, read-only and with an empty /tmp: no type is stripped", async () => {
    for (const actor of ACTOR_NAMES) {
      // NATS stands in as a bare listener on the host: once the actor connects, its modules are loaded.
      const nats = await firstConnection();
      const name = `tf-compile-cache-${actor}-${process.pid}`;
      const container = spawn(
        "podman",
        [
          ...["run", "--rm", "--name", name, "--read-only", "--network", "host"],
          ...["-e", "NODE_DEBUG_NATIVE=COMPILE_CACHE", "-e", `NATS_URL=nats://127.0.0.1:${nats.port}`],
          ...[image, "actor", actor],
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      const stderr = await stderrUntilConnected(container, nats, () => podman(["kill", name]).catch(() => {}));
      const { cached, stripped } = typeStripping(stderr, "/app");
      expect({ actor, stripped }).toEqual({ actor, stripped: [] });
      expect(cached).toContain(`actors/${actor}/src/main.ts`);
    }
  });

  it("runs tini as PID 1, which reaps orphans (an MCP stdio server's children) and passes SIGTERM on", async () => {
    const id = await podman(["run", "-d", "--rm", image, "fake-llm", "--port", "18080"]);
    try {
      expect(await podman(["exec", id, "cat", "/proc/1/comm"])).toBe("tini");
      // A child's child whose parent exits is handed to PID 1; tini waits for it, so no zombie stays.
      await podman(["exec", id, "sh", "-c", "sh -c 'sleep 0.2 & exit 0'"]);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const states = await podman(["exec", id, "sh", "-c", "cat /proc/[0-9]*/stat"]);
      expect(states.split("\n").filter((line) => / Z /.test(line))).toEqual([]);
      const stoppedAt = Date.now();
      await podman(["stop", "--time", "20", id]);
      expect(Date.now() - stoppedAt).toBeLessThan(10_000); // SIGTERM reached node, which exited; no SIGKILL
    } finally {
      await podman(["rm", "--force", "--ignore", id]).catch(() => {});
    }
  });
});
