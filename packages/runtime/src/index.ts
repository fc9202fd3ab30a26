export { DEFAULT_LIVENESS_DISCONNECTED_MS } from "./health.ts";
export {
  startActor,
  runMain,
  type ActorContext,
  type ActorDefinition,
  type RunningActor,
  type StartedLogic,
} from "./actor.ts";
export {
  BaseConfigSchema,
  baseConfigFromEnv,
  parseConfig,
  parseJsonSetting,
  DEFAULT_NATS_URL,
  type BaseConfig,
} from "./config.ts";
export { ack, handBack, leave, retry, terminate, type Directive } from "./directive.ts";
export {
  runConsumer,
  DEFAULT_STOP_GRACE_MS,
  type ConsumerSpec,
  type Delivery,
  type RunningConsumer,
} from "./consumer.ts";
export { serveInternal, subscribeInternal, type InternalEndpoint } from "./internal-endpoint.ts";
export {
  decodeValidated,
  internalHeaders,
  encodeInternal,
  packInternal,
  contentTypeHeaders,
  headerSafe,
  type Decoded,
} from "./wire.ts";
export {
  activeTraceHeaders,
  errorTypeOf,
  failSpan,
  inLinkedRootSpan,
  inSpan,
  remoteContext,
  spanContextOf,
  traceCarrier,
  traceFields,
  traceparentHere,
  traceparentOf,
  tracer,
} from "./trace-context.ts";
export { SpanKind, type Span } from "@opentelemetry/api";
export { tracesEndpoint, TracingConfigSchema, type TracingConfig } from "./trace-config.ts";
export { KvCasStore, type CasOperation } from "./kv-cas.ts";
export { createLogger, lazyChild, type Logger } from "./logger.ts";
export { abortable } from "./abortable.ts";
export { settleAll } from "./settle-all.ts";
export { publishCallCancel } from "./cancellations.ts";
export { publishConfirmed } from "./confirmed-publish.ts";
export {
  backoffDelayMs,
  isNoResponders,
  isTransient,
  pause,
  untilStored,
  DEFAULT_BACKOFF,
  type BackoffPolicy,
  type UntilStoredOptions,
} from "./backoff.ts";
export {
  publishStored,
  isWrongLastSequence,
  lastStored,
  nextStored,
  retryUntil,
  whileStarting,
  EarlierTryInFlight,
  MIN_RETRY_WINDOW_MS,
  type RetryOptions,
  type StoredAck,
} from "./jetstream-io.ts";
export { DEFAULT_TRY_TIMEOUT, tryTimeoutMs, type TryTimeoutPolicy } from "./try-timeout.ts";
export { eventMessageId, DEFAULT_EVENT_RETRY_MS } from "./events.ts";
export {
  drive,
  SYSTEM_CLOCK,
  type Clock,
  type DriveOptions,
  type Effects,
  type Machine,
  type Step,
  type TimerCommand,
  type TimerEvent,
} from "./machine.ts";
export { awaitRecord, type AwaitRecordOptions } from "./await-record.ts";
export { followKv, type KvFollower } from "./kv-follow.ts";
export { deleteOrdered, ORDERED_INACTIVE_THRESHOLD_MS } from "./ordered-consumers.ts";
export {
  bind,
  provision,
  StorageLimitsSchema,
  DEFAULT_STORAGE_LIMITS,
  PROGRESS_KEPT_MS,
  type StorageLimits,
  type StorageLimit,
  type Provisioned,
} from "./provisioning.ts";
export { connectNats } from "./connection.ts";
export { ensureRoleCredentials, seedFile, type Principal, type RoleCredentials } from "./role-credentials.ts";
export { boundedLabel, OTHER_LABEL_VALUE } from "./bounded-labels.ts";
export type { ActorMetrics } from "./metrics.ts";
export type { GenAiClientMetrics } from "./gen-ai-metrics.ts";
