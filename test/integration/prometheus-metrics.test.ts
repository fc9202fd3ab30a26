import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { CallStatus, CONSUMERS, EventType, RequestStatus, type OrchestrateEvent } from "@toolformer/protocol";
import { startPrometheus, type Prometheus } from "@toolformer/testing";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { ALERT_RULES_FILE, alertExprs, dashboardPanels, metricNamesIn } from "../support/observability-files.ts";
import {
  LIMITED_INTERVAL_MS,
  runWorkload,
  warmUpSpeculation,
  WORKLOAD_ENVIRONMENT,
  type WorkloadRun,
} from "../support/observability-workload.ts";

/** Occurrences of each value of `key` among `items`. */
const countBy = <T>(items: T[], key: (item: T) => string) =>
  items.reduce<Record<string, number>>(
    (counts, item) => ({ ...counts, [key(item)]: (counts[key(item)] ?? 0) + 1 }),
    {},
  );

/** The names each actor's `/metrics` declares (a histogram's as its series: _bucket, _sum, _count). */
function exposedNames(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
    type === "histogram" || type === "summary" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`, name!] : [name!],
  );
}

/** Durables the workload goes through, and their queue depth (every copy reports the same: max). */
const DURABLES = [
  CONSUMERS.dispatcherRunner,
  CONSUMERS.scheduler,
  CONSUMERS.speculationObserver,
  CONSUMERS.speculationLearner,
  CONSUMERS.executorForTool("lookup"),
];
const DEPTH = "max by (durable) (toolformer_consumer_pending_messages + toolformer_consumer_ack_pending_messages)";

describe("each actor's /metrics, scraped by a real Prometheus after a known workload", () => {
  let env: TestEnvironment;
  let prometheus: Prometheus;
  const workload: WorkloadRun = { answered: [], events: [] };
  const replies = () => workload.answered.map(({ reply }) => reply);
  const scrapes: string[] = [];
  /** Sum of every series an instant query returns. */
  const total = async (expr: string) => (await prometheus.query(expr)).reduce((sum, s) => sum + s.value, 0);
  const byLabel = async (expr: string, label: string) =>
    Object.fromEntries((await prometheus.query(expr)).map((s) => [s.metric[label] ?? "", s.value]));
  const eventsOf = <T extends OrchestrateEvent["type"]>(type: T) =>
    workload.events.filter((e): e is Extract<OrchestrateEvent, { type: T }> => e.type === type);

  beforeAll(async () => {
    env = await startEnvironment(WORKLOAD_ENVIRONMENT);
    // Missing prometheus fails here with the install hint: this test never skips.
    prometheus = await startPrometheus({
      targets: [...env.stack.metricsUrls.values()].map(({ url }) => ({ url })),
      ruleFiles: [ALERT_RULES_FILE],
      scrapeIntervalMs: 500,
    });
    await warmUpSpeculation(env, workload);
    await runWorkload(env, "obs", workload);
    // The last events and acks trail the last reply (the speculation engine counts from the events):
    // wait, bounded, until scrapes see every durable's queue empty, then read the final numbers.
    const giveUpAt = Date.now() + 15_000;
    for (;;) {
      const queued = await byLabel(DEPTH, "durable");
      if (DURABLES.every((durable) => queued[durable] === 0) || Date.now() > giveUpAt) break;
      await sleep(250);
    }
    const doneAt = Date.now();
    for (const { url } of env.stack.metricsUrls.values()) scrapes.push(await (await fetch(url)).text());
    await prometheus.scrapedSince(doneAt);
  }, 90_000);
  afterAll(async () => {
    await prometheus?.stop();
    await env?.[Symbol.asyncDispose]();
  });

  it("counts the fake model's reported tokens and every model call (gen_ai.client.*)", async () => {
    const reported = (side: "inputTokens" | "outputTokens") =>
      replies().reduce((sum, reply) => sum + (reply.usage?.[side] ?? 0), 0);
    expect(await total('gen_ai_client_token_usage_sum{gen_ai_token_type="input"}')).toBe(reported("inputTokens"));
    expect(await total('gen_ai_client_token_usage_sum{gen_ai_token_type="output"}')).toBe(reported("outputTokens"));
    expect(reported("inputTokens")).toBeGreaterThan(0);
    // One operation per request the fake model served, the 429 it refused among them.
    expect(await total("gen_ai_client_operation_duration_seconds_count")).toBe(env.fake.received.length);
    expect(await byLabel("sum by (error_type) (gen_ai_client_operation_duration_seconds_count)", "error_type")).toEqual(
      {
        "": env.fake.received.length - 1,
        "429": 1,
      },
    );
    const models = await byLabel(
      'sum by (gen_ai_request_model) (gen_ai_client_operation_duration_seconds_count{gen_ai_provider_name="fake", gen_ai_operation_name="chat"})',
      "gen_ai_request_model",
    );
    expect(models).toEqual(countBy(env.fake.received, (r) => r.scenario));
  });

  it("counts requests by status, model and tenant, and times each", async () => {
    const byStatus = countBy(replies(), (reply) => reply.status);
    expect(byStatus).toMatchObject({ [RequestStatus.cancelled]: 1 });
    expect(await byLabel('sum by (status) (toolformer_requests_total{tenant="default"})', "status")).toEqual(byStatus);
    expect(await byLabel("sum by (model) (toolformer_requests_total)", "model")).toEqual(
      countBy(workload.answered, ({ model }) => model),
    );
    expect(await total("toolformer_request_duration_seconds_count")).toBe(replies().length);
  });

  it("counts tool calls by tool and outcome, speculative ones apart, and times them", async () => {
    const calls = replies()
      .flatMap((reply) => reply.toolCalls)
      .filter((call) => !call.speculative);
    const expected = countBy(calls, (call) => `${call.tool} ${call.status}`);
    const counted = Object.fromEntries(
      (await prometheus.query('sum by (tool, outcome) (toolformer_tool_calls_total{speculative="false"})')).map((s) => [
        `${s.metric.tool} ${s.metric.outcome}`,
        s.value,
      ]),
    );
    expect(counted).toEqual(expected);
    expect(expected).toMatchObject({ "stuck cancelled": 1, "limited succeeded": 3 });
    expect(await total('toolformer_tool_calls_total{speculative="true"}')).toBe(
      eventsOf(EventType.speculationStarted).length,
    );
    expect(await total('toolformer_tool_duration_seconds_count{tool="limited"}')).toBe(3);
  });

  it("shows the rate-limited scope's permits, waits and use", async () => {
    const scope = 'scope="tool:limited"';
    expect(await total(`toolformer_ratelimit_permits_total{${scope}, outcome="granted"}`)).toBe(3);
    expect(await total(`toolformer_ratelimit_wait_seconds_count{${scope}}`)).toBe(3);
    // The second call waits one interval, the third two: the limit, not the machine's speed, sets this floor.
    expect(await total(`toolformer_ratelimit_wait_seconds_sum{${scope}}`)).toBeGreaterThanOrEqual(
      (2 * LIMITED_INTERVAL_MS) / 1000,
    );
    const used = await total(`toolformer_ratelimit_utilization_ratio{${scope}}`);
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThanOrEqual(1);
  });

  it("reports queue depth and lag per durable, drained after the workload", async () => {
    const queued = await byLabel(DEPTH, "durable");
    for (const durable of DURABLES) expect(queued[durable], durable).toBe(0);
  });

  it("counts speculation hits, misses and the time misses wasted", async () => {
    const predictions = (type: OrchestrateEvent["type"]) =>
      workload.events.reduce((sum, e) => sum + (e.type === type && "predictors" in e ? e.predictors.length : 0), 0);
    const outcomes = await byLabel("sum by (outcome) (toolformer_speculation_calls_total)", "outcome");
    expect(outcomes).toEqual({
      started: predictions(EventType.speculationStarted),
      hit: predictions(EventType.speculationHit),
      miss: predictions(EventType.speculationMiss),
    });
    expect(outcomes.hit).toBeGreaterThan(0);
    expect(outcomes.miss).toBeGreaterThan(0);
    const wastedMs = eventsOf(EventType.speculationMiss).reduce((sum, miss) => sum + miss.wastedMs, 0);
    expect(await total("toolformer_speculation_wasted_seconds_total")).toBeCloseTo(wastedMs / 1000, 6);
  });

  it("counts the cancel in every actor and times its way to the reply and to the stopped tool", async () => {
    const heard = await prometheus.query('toolformer_cancels_total{scope="request", reason="client"}');
    expect(heard.map((s) => s.value)).toEqual([1, 1, 1, 1, 1]);
    expect(await total('toolformer_cancel_propagation_seconds_count{stage="request_reply"}')).toBe(1);
    // Every cancelled call record an executor published came from a cancel it heard.
    const cancelledCalls = await total(`toolformer_tool_calls_total{outcome="${CallStatus.cancelled}"}`);
    expect(cancelledCalls).toBeGreaterThanOrEqual(1);
    expect(await total('toolformer_cancel_propagation_seconds_count{stage="tool_stopped"}')).toBe(cancelledCalls);
  });

  it("keeps Node's default metrics under their standard names and no ids as labels", async () => {
    expect(await byLabel("count by (actor) (process_cpu_seconds_total)", "actor")).toEqual({
      dispatcher: 1,
      scheduler: 1,
      "rate-limiter": 1,
      speculation: 1,
      executor: 1,
    });
    expect(await prometheus.query('{__name__=~"toolformer_(process|nodejs)_.*"}')).toEqual([]);
    const ids = replies().flatMap((reply) => [reply.id, ...reply.toolCalls.map((call) => call.id)]);
    for (const text of scrapes) for (const id of ids) expect(text).not.toContain(`"${id}"`);
  });

  it("exposes every metric the dashboard and the alerting rules query, and the rules evaluate cleanly", async () => {
    const exposed = new Set(scrapes.flatMap(exposedNames));
    const queried = [...dashboardPanels().flatMap((p) => p.targets.map((t) => t.expr)), ...alertExprs()];
    const names = new Set(queried.flatMap(metricNamesIn));
    expect(names.size).toBeGreaterThan(15);
    expect([...names].filter((name) => !exposed.has(name))).toEqual([]);
    const rules = (await prometheus.rules()).flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.name)).toHaveLength(alertExprs().length);
    expect(rules.filter((rule) => rule.health !== "ok")).toEqual([]);
  });
});
