import { Histogram, type Registry } from "prom-client";
import { ToolformerError } from "@toolformer/protocol";
import { boundedLabel } from "./bounded-labels.ts";

/** The GenAI semantic conventions' advice for `gen_ai.client.token.usage` (powers of 4 up to 64 Mi tokens). */
export const GEN_AI_TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
/** The GenAI semantic conventions' advice for `gen_ai.client.operation.duration`, seconds (doubling from 10 ms). */
export const GEN_AI_DURATION_BUCKETS_SECONDS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/**
 * `error.type` for a failed model call: the HTTP status when the provider answered one (`429`,
 * `503`: what alerts and dashboards group by), else the error's code or class name. Low-cardinality
 * by construction, as the conventions ask.
 */
export function errorTypeOf(error: unknown): string {
  if (error instanceof ToolformerError) {
    const status = (error.details as { status?: unknown } | undefined)?.status;
    return typeof status === "number" ? String(status) : error.code;
  }
  return error instanceof Error ? error.name : "_OTHER";
}

/**
 * The GenAI client metrics of the OpenTelemetry semantic conventions, as Prometheus histograms
 * (`gen_ai.client.token.usage` -> `gen_ai_client_token_usage`, `gen_ai.client.operation.duration` ->
 * `gen_ai_client_operation_duration_seconds`), attributes as labels with dots made underscores.
 */
export class GenAiClientMetrics {
  readonly #tokens: Histogram<
    "gen_ai_operation_name" | "gen_ai_provider_name" | "gen_ai_request_model" | "gen_ai_token_type"
  >;
  readonly #duration: Histogram<
    "gen_ai_operation_name" | "gen_ai_provider_name" | "gen_ai_request_model" | "error_type"
  >;
  readonly #model = boundedLabel();

  constructor(registry: Registry) {
    this.#tokens = new Histogram({
      name: "gen_ai_client_token_usage",
      help: "Tokens used per model operation, by token type (input, output)",
      labelNames: ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"],
      buckets: GEN_AI_TOKEN_BUCKETS,
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: "gen_ai_client_operation_duration_seconds",
      help: "Duration of one model operation (one try of a turn); error_type set when it failed",
      labelNames: ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"],
      buckets: GEN_AI_DURATION_BUCKETS_SECONDS,
      registers: [registry],
    });
  }

  /**
   * Runs one chat operation (one try of one model turn) and records it however it ends: its duration,
   * with `error_type` when it failed, and the tokens the provider reported when it answered.
   */
  async timeChat<T extends { usage: { inputTokens: number; outputTokens: number } }>(
    provider: string,
    model: string,
    call: () => Promise<T>,
  ): Promise<T> {
    const labels = {
      gen_ai_operation_name: "chat",
      gen_ai_provider_name: provider,
      gen_ai_request_model: this.#model(model),
    };
    const startedAt = performance.now();
    const seconds = () => (performance.now() - startedAt) / 1000;
    try {
      const answer = await call();
      this.#duration.observe(labels, seconds());
      this.#tokens.observe({ ...labels, gen_ai_token_type: "input" }, answer.usage.inputTokens);
      this.#tokens.observe({ ...labels, gen_ai_token_type: "output" }, answer.usage.outputTokens);
      return answer;
    } catch (error) {
      this.#duration.observe({ ...labels, error_type: errorTypeOf(error) }, seconds());
      throw error;
    }
  }
}
