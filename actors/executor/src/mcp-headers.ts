import { readFileSync } from "node:fs";
import { z } from "zod";

/**
 * One HTTP header for an MCP server: a plain value, or a secret read from an environment variable or a
 * file (a Kubernetes Secret as `secretKeyRef` or as a mounted volume), with an optional prefix such as
 * `Bearer `. Secrets stay out of `TF_MCP_SERVERS`, which is configuration, not a vault.
 */
export const McpHeaderValueSchema = z.union([
  z.string(),
  z.strictObject({ env: z.string().min(1), prefix: z.string().optional() }),
  z.strictObject({ file: z.string().min(1), prefix: z.string().optional() }),
]);
export type McpHeaderValue = z.infer<typeof McpHeaderValueSchema>;

export interface SecretSources {
  env: NodeJS.ProcessEnv;
  readFile(path: string): string;
}

export const PROCESS_SECRETS: SecretSources = { env: process.env, readFile: (path) => readFileSync(path, "utf8") };

/**
 * The headers to send, read at each connection so that a rotated secret (a file Kubernetes updates in
 * place) is used from the next reconnect on. A missing secret is an error that names where it was
 * looked for, never its value.
 */
export function resolveMcpHeaders(
  headers: Record<string, McpHeaderValue> | undefined,
  sources: SecretSources,
): Record<string, string> {
  const resolved: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (typeof value === "string") {
      resolved[name] = value;
      continue;
    }
    const secret = "env" in value ? sources.env[value.env] : readSecretFile(sources, value.file);
    if (secret === undefined || secret === "")
      throw new Error(`the header ${name} needs ${"env" in value ? `$${value.env}` : value.file}, which is not set`);
    resolved[name] = `${value.prefix ?? ""}${secret.trim()}`;
  }
  return resolved;
}

function readSecretFile(sources: SecretSources, path: string): string | undefined {
  try {
    return sources.readFile(path);
  } catch {
    return undefined;
  }
}
