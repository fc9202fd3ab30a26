export { startNatsServer, DEFAULT_READY_TIMEOUT_MS, type NatsServer, type NatsServerOptions } from "./nats-server.ts";
export { startNatsCluster, streamLeaderNode, type NatsCluster, type ClusterNode } from "./cluster.ts";
export { isAlive, natsServerBinary, NATS_SERVER_INSTALL_HINT } from "./processes.ts";
export { freePort } from "./ports.ts";
export { saturate, maxInAnyWindow, permitRequest, type CallerLoad, type Grant } from "./rate-limit-load.ts";
export { criticalPathMs, planToolCalls, randomDag, type PlanNode } from "./plans.ts";
export { provisionAsAdmin, type RoleAccess } from "./role-access.ts";
export {
  startOtlpReceiver,
  decodeOtlpJson,
  SpanKindNumber,
  type OtlpReceiver,
  type ReceivedSpan,
} from "./otlp-receiver.ts";
export {
  startPrometheus,
  prometheusBinary,
  PROMETHEUS_INSTALL_HINT,
  type Prometheus,
  type PromSample,
  type PromSeries,
  type ScrapeTarget,
} from "./prometheus.ts";
export { scriptedLimiter, type ScriptedLimiter } from "./scripted-limiter.ts";
export { execCall } from "./exec-call.ts";
