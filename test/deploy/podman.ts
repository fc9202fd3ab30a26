import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Runs `podman ARGS`, bounded; its stdout, trimmed. A failure carries podman's stderr. */
export async function podman(args: string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await run("podman", args, { timeout: timeoutMs, maxBuffer: 64 << 20 });
    return stdout.trim();
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`podman ${args.join(" ")} failed: ${stderr.trim().split("\n").slice(-5).join("\n")}`, {
      cause: error,
    });
  }
}

/** The IP a pod has on `network` (what a client outside the pods reaches it by, as root on the host). */
export async function podIp(pod: string, network: string): Promise<string> {
  const infra = JSON.parse(await podman(["pod", "inspect", pod])) as
    { InfraContainerID: string } | { InfraContainerID: string }[];
  const id = (Array.isArray(infra) ? infra[0] : infra)?.InfraContainerID;
  const [container] = JSON.parse(await podman(["inspect", String(id)])) as {
    NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
  }[];
  const ip = container?.NetworkSettings.Networks[network]?.IPAddress;
  if (!ip) throw new Error(`pod ${pod} has no address on ${network}`);
  return ip;
}

/** Names of the pods whose name starts with `prefix`. */
export async function podsNamed(prefix: string): Promise<string[]> {
  const names = await podman(["pod", "ps", "--format", "{{.Name}}"]);
  return names
    .split("\n")
    .filter((name) => name.startsWith(prefix))
    .sort();
}

/** Exit code and state of a pod's container (`<pod>-<container>`, kube play's naming). */
export async function containerState(name: string): Promise<{ status: string; exitCode: number }> {
  const [state] = JSON.parse(await podman(["inspect", name, "--format", "json"])) as {
    State: { Status: string; ExitCode: number };
  }[];
  return { status: String(state?.State.Status), exitCode: Number(state?.State.ExitCode) };
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs` with `what`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const giveUpAt = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > giveUpAt) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
