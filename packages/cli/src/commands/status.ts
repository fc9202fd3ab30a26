import { connect } from "@nats-io/transport-node";
import { connectionOptions } from "@toolformer/client";
import { readCluster, type ClusterView } from "@toolformer/dashboard";
import { DEFAULT_NATS_URL } from "@toolformer/runtime";
import { ExitCode } from "../exit-codes.ts";
import { cliCredentials } from "../local-credentials.ts";

/**
 * `toolformer status [--json]`: the cluster as the viewer role reads it (the dashboard's cluster and
 * scopes, once). Exits 0 when it was read, 3 (unavailable) when no actor answers the service API.
 */
export async function runStatusCommand(options: { json: boolean }): Promise<number> {
  const nc = await connect({
    ...connectionOptions(process.env.NATS_URL ?? DEFAULT_NATS_URL, cliCredentials("viewer")),
    name: "toolformer-status",
  });
  try {
    const view = await readCluster(nc);
    console.log(options.json ? JSON.stringify(view) : statusLines(view).join("\n"));
    if (view.services.length > 0) return ExitCode.completed;
    if (!options.json) console.error("no actor answers the service API (is the stack running?)");
    return ExitCode.unavailable;
  } finally {
    await nc.close();
  }
}

const duration = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
const table = (rows: string[][]) => {
  const widths = rows.reduce<number[]>((max, row) => row.map((cell, i) => Math.max(max[i] ?? 0, cell.length)), []);
  return rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ")}`.trimEnd());
};

/** The status as `toolformer status` prints it: four sections, each a small table. */
export function statusLines(view: ClusterView): string[] {
  const services = view.services.map((service) => [
    service.name,
    `${service.copies.length} ${service.copies.length === 1 ? "copy" : "copies"}`,
    service.copies.map((copy) => copy.actorId ?? copy.id).join(", "),
  ]);
  const tools = view.tools.map((tool) => [tool.name, tool.source, tool.hosts.map((h) => h.executorId).join(", ")]);
  const lag = view.consumers.map((c) => [
    `${c.stream}/${c.consumer}`,
    `pending ${c.pending}`,
    `unacked ${c.ackPending}`,
    `redelivered ${c.redelivered}`,
  ]);
  const scopes = view.scopes.map((s) => [
    s.key,
    s.blockOnly
      ? "no limit of its own"
      : `${s.used}/${s.capacity} ${s.concurrent ? "at once" : `per ${duration(s.intervalMs)}`}`,
    `waiting ${s.waiting}${s.oldestWaitMs === undefined ? "" : ` (longest ${duration(s.oldestWaitMs)})`}`,
    s.blockedForMs === undefined ? "" : `blocked ${duration(s.blockedForMs)} more`,
  ]);
  const section = (title: string, rows: string[][], none: string) => [
    title,
    ...(rows.length > 0 ? table(rows) : [`  ${none}`]),
  ];
  return [
    ...section("actors", services, "none answers"),
    ...section("tools", tools, "none registered"),
    ...section("consumer lag", lag, "no consumers"),
    ...section("rate-limit scopes", scopes, "none asked for in the last 10 minutes"),
  ];
}
