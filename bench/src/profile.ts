import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface Hotspot {
  where: string;
  selfPercent: number;
}

/**
 * Where a process spent its CPU: self time per code area (a package of ours or a dependency, or
 * node's internals), from a V8 .cpuprofile, as a share of all samples that were not idle.
 */
export function hotspots(profile: CpuProfile, top = 8, by: "area" | "function" = "area"): Hotspot[] {
  const byArea = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const name = node.callFrame.functionName;
    if (hits === 0 || name === "(idle)" || name === "(program)") continue;
    total += hits;
    const area =
      by === "area"
        ? areaOf(node.callFrame.url, name)
        : `${name || "(anonymous)"} ${node.callFrame.url.split("/").slice(-2).join("/")}:${node.callFrame.lineNumber + 1}`;
    byArea.set(area, (byArea.get(area) ?? 0) + hits);
  }
  return [...byArea.entries()]
    .map(([where, hits]) => ({ where, selfPercent: (100 * hits) / Math.max(1, total) }))
    .sort((a, b) => b.selfPercent - a.selfPercent)
    .slice(0, top);
}

function areaOf(url: string, functionName: string): string {
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency?.[1] && !dependency[1].startsWith("@toolformer/")) return dependency[1];
  const ours = /\/(packages|actors)\/([^/]+)\/src\/(.+)$/.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}/${ours[3]}`;
  if (url.startsWith("node:")) return url;
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  return url;
}

/** CPU time a process spent outside idle over the whole profile, milliseconds (which actor is busiest). */
export function busyMs(profile: CpuProfile): number {
  let all = 0;
  let busy = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    all += hits;
    if (node.callFrame.functionName !== "(idle)") busy += hits;
  }
  return all === 0 ? 0 : ((profile.endTime - profile.startTime) / 1000) * (busy / all);
}

export interface ProfileSummary {
  busyMs: number;
  areas: Hotspot[];
  functions: Hotspot[];
}

/** Every .cpuprofile in `dir` (node names them by pid), summarized by area and by function, keyed by actor. */
export function summarizeProfiles(dir: string, actorOfPid: Map<number, string>): Record<string, ProfileSummary> {
  const out: Record<string, ProfileSummary> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) {
    const pid = Number(file.split(".")[3]);
    const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
    out[`${actorOfPid.get(pid) ?? "process"} (pid ${pid})`] = {
      busyMs: busyMs(profile),
      areas: hotspots(profile),
      functions: hotspots(profile, 8, "function"),
    };
  }
  return out;
}

/** The summaries as `npm run bench` and `bench:rate-limit` print them: each actor's busy time, top areas and functions. */
export function describeProfiles(dir: string, profiles: Record<string, ProfileSummary>): string {
  const list = (spots: Hotspot[]) =>
    spots.map((s) => `  ${s.selfPercent.toFixed(1).padStart(5)}%  ${s.where}`).join("\n");
  return [
    `CPU profiles (.cpuprofile, one per actor process): ${dir}`,
    ...Object.entries(profiles).map(
      ([actor, spots]) =>
        `CPU self time, ${actor}, ${(spots.busyMs / 1000).toFixed(1)} s busy, by area:\n${list(spots.areas)}\nby function:\n${list(spots.functions)}`,
    ),
  ].join("\n\n");
}
