import { execFileSync } from "node:child_process";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { REPO } from "./manifests.ts";

/** The image the deploy tests run: built once per run, removed after it (TF_DEPLOY_KEEP_IMAGE=1 keeps it). */
export const TEST_IMAGE = "localhost/toolformer:deploy-test";

declare module "vitest" {
  export interface ProvidedContext {
    image: string;
    imageBytes: number;
    buildMs: number;
  }
}

/**
 * Installs podman as shared/CONTAINERS.md says (idempotent), makes the base images when no registry
 * gives them, and builds the image with podman, as deploy/README.md tells a user to.
 */
export default function setup(project: TestProject): () => void {
  const script = (name: string, ...args: string[]) =>
    execFileSync(join(REPO, "deploy", "scripts", name), args, {
      cwd: REPO,
      stdio: ["ignore", "pipe", "inherit"],
      encoding: "utf8",
    });
  script("install-podman.sh");
  const startedAt = Date.now();
  script("build-image.sh", TEST_IMAGE);
  const buildMs = Date.now() - startedAt;
  const imageBytes = Number(
    execFileSync("podman", ["image", "inspect", TEST_IMAGE, "--format", "{{.Size}}"], { encoding: "utf8" }),
  );
  console.log(
    `deploy test: built ${TEST_IMAGE} in ${(buildMs / 1000).toFixed(0)} s, ${(imageBytes / 1e6).toFixed(0)} MB`,
  );
  project.provide("image", TEST_IMAGE);
  project.provide("imageBytes", imageBytes);
  project.provide("buildMs", buildMs);
  return () => {
    if (process.env.TF_DEPLOY_KEEP_IMAGE !== "1")
      execFileSync("podman", ["rmi", "--force", TEST_IMAGE], { stdio: "ignore" });
  };
}
