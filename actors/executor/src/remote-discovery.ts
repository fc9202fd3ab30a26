import type { ServiceInfo } from "@nats-io/services";
import { isToolSubject, remoteToolDefinition, type ToolDefinition } from "@toolformer/protocol";

export interface RemoteTool {
  definition: ToolDefinition;
  subject: string;
}

export interface DiscoveryResult {
  tools: Map<string, RemoteTool>;
  /** Endpoints that looked like tools (had `toolformer.parameters`) but could not be used, with why. */
  rejected: { service: string; endpoint: string; reason: string }[];
}

/**
 * The tools among the endpoints that running services announce. Only endpoints whose metadata has
 * `toolformer.parameters` are tools; when two services offer the same name, the first one seen wins
 * and the others are reported, since a tool name must mean one thing.
 */
export function toolsFromServiceInfos(infos: Iterable<ServiceInfo>): DiscoveryResult {
  const tools = new Map<string, RemoteTool>();
  const rejected: DiscoveryResult["rejected"] = [];
  for (const info of infos) {
    for (const endpoint of info.endpoints ?? []) {
      if (!endpoint.metadata || !("toolformer.parameters" in endpoint.metadata)) continue;
      if (!isToolSubject(endpoint.subject)) {
        rejected.push({
          service: info.name,
          endpoint: endpoint.name,
          reason: `subject ${endpoint.subject} is the orchestrator's or the system's, not a tool's`,
        });
        continue;
      }
      const parsed = remoteToolDefinition(endpoint.name, endpoint.metadata, info.version);
      if (!parsed.ok) {
        rejected.push({ service: info.name, endpoint: endpoint.name, reason: parsed.reason });
        continue;
      }
      const existing = tools.get(endpoint.name);
      if (existing && existing.subject !== endpoint.subject) {
        rejected.push({
          service: info.name,
          endpoint: endpoint.name,
          reason: `tool name already served on ${existing.subject}`,
        });
        continue;
      }
      tools.set(endpoint.name, { definition: parsed.definition, subject: endpoint.subject });
    }
  }
  return { tools, rejected };
}

/**
 * Remote tools that discovery no longer finds, dropped only once missing from `rounds` rounds in a
 * row: a busy service (a GC pause, a loaded machine) can miss one round's deadline while it still
 * serves, and dropping its tool would fail the calls already delivered to this executor.
 */
export class MissingRemoteTools {
  readonly #rounds: number;
  readonly #missed = new Map<string, number>();

  constructor(rounds: number) {
    this.#rounds = rounds;
  }

  /** After a round that saw `seen`: the names among `hosted` that are gone now. */
  gone(hosted: Iterable<string>, seen: ReadonlySet<string>): string[] {
    const gone: string[] = [];
    for (const name of hosted) {
      if (seen.has(name)) {
        this.#missed.delete(name);
        continue;
      }
      const missed = (this.#missed.get(name) ?? 0) + 1;
      if (missed < this.#rounds) {
        this.#missed.set(name, missed);
        continue;
      }
      this.#missed.delete(name);
      gone.push(name);
    }
    return gone;
  }
}
