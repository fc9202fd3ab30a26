import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const K8S = join(REPO, "deploy", "k8s");

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

/** `kubectl kustomize DIR` (kubectl's own Kustomize, offline), parsed. */
export function render(dir: string): Manifest[] {
  const text = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", maxBuffer: 32 << 20 });
  return parseAllDocuments(text).map((document) => document.toJS() as Manifest);
}

export const byKind = (manifests: Manifest[], kind: string) => manifests.filter((m) => m.kind === kind);
export function named(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return found;
}
