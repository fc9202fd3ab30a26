export { startActor, runMain, type ActorContext, type ActorDefinition, type RunningActor } from "./actor.ts";
export { BaseConfigSchema, baseConfigFromEnv, parseConfig, DEFAULT_NATS_URL, type BaseConfig } from "./config.ts";
export { connectNats } from "./connection.ts";
export { provision } from "./provisioning.ts";
export { CancellationWatcher } from "./cancellations.ts";
export { EventPublisher } from "./events.ts";
export { ack, retry, terminate, applyDirective, type Directive } from "./directive.ts";
export { runConsumer, ensureDurable, type ConsumerSpec, type Delivery, type RunningConsumer } from "./consumer.ts";
export {
  decodeValidated,
  internalHeaders,
  encodeInternal,
  contentTypeHeaders,
  headerSafe,
  type Decoded,
} from "./wire.ts";
export { nextTraceparent, traceIdOf } from "./tracing.ts";
export { createLogger, type Logger } from "./logger.ts";
export { Semaphore } from "./semaphore.ts";
export type { ActorMetrics } from "./metrics.ts";
export { updateWithCas } from "./kv-cas.ts";
export { acquirePermits, sendRateLimitFeedback } from "./rate-limit-client.ts";
