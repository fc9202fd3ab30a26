import { setTimeout as sleep } from "node:timers/promises";
import type { ModelProvider, ModelToolCall, ModelTurn, ModelTurnRequest } from "@toolformer/providers";
import { inSpan, SpanKind, type GenAiClientMetrics, type Logger } from "@toolformer/runtime";
import { RetryableError } from "@toolformer/protocol";
import type { ModelPermits } from "./model-permits.ts";
import { chatSpanEnd, chatSpanStart } from "./model-span.ts";
import { decideRetry } from "./retry-policy.ts";

/**
 * One model turn, in its `chat` span (model-span.ts), asked again after passing failures as the retry policy allows. Once a streamed
 * call has been handed on, a failed attempt is not repeated (the model could answer differently and
 * the call would run twice): the turn is then the calls that were complete.
 */
export async function askModel(
  provider: ModelProvider,
  request: ModelTurnRequest,
  options: {
    signal: AbortSignal;
    deadline: number;
    onToolCall?: (call: ModelToolCall) => void;
    /** The model's request and token limits, when it has any. */
    permits?: ModelPermits | undefined;
    log: Logger;
    /** Where each try's duration and tokens are recorded. */
    genAi: GenAiClientMetrics;
  },
): Promise<ModelTurn> {
  const { name, attributes } = chatSpanStart(provider.name, request);
  return inSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    const turn = await askWithRetries(provider, request, options);
    span.setAttributes(chatSpanEnd(turn));
    return turn;
  });
}

async function askWithRetries(
  provider: ModelProvider,
  request: ModelTurnRequest,
  options: Parameters<typeof askModel>[2],
): Promise<ModelTurn> {
  const handed: ModelToolCall[] = [];
  const listener = options.onToolCall
    ? (call: ModelToolCall) => {
        handed.push(call);
        options.onToolCall?.(call);
      }
    : undefined;
  for (let attempt = 1; ; attempt++) {
    const started = await options.permits?.acquire(attempt, options.signal);
    try {
      const turn = await options.genAi.timeChat(provider.name, request.model, () => {
        const completing = provider.complete(request, options.signal, listener);
        // The SDK sends the request within a few ms of this: a late start is counted again from now.
        started?.();
        return completing;
      });
      const used = turn.usage.inputTokens + turn.usage.outputTokens;
      options.permits
        ?.settle(attempt, used)
        .catch((error: unknown) => options.log.warn({ err: error }, "could not correct the token count"));
      return turn;
    } catch (error) {
      if (options.signal.aborted) throw error;
      if (error instanceof RetryableError && isTooManyRequests(error)) {
        await options.permits?.block(Date.now() + error.retryAfterMs).catch(() => undefined);
      }
      if (handed.length > 0) {
        options.log.warn(
          { err: error, calls: handed.length },
          "the model's stream broke after some calls; going on with those",
        );
        return { toolCalls: handed, usage: { inputTokens: 0, outputTokens: 0 }, stopReason: "stream_broken" };
      }
      const decision = decideRetry(error, attempt, Date.now(), options.deadline, Math.random());
      if (!decision.retry) throw error;
      options.log.info({ err: error, attempt, delayMs: Math.round(decision.delayMs) }, "asking the model again");
      await sleep(decision.delayMs, undefined, { signal: options.signal });
    }
  }
}

function isTooManyRequests(error: RetryableError): boolean {
  return (
    typeof error.details === "object" &&
    error.details !== null &&
    (error.details as { status?: unknown }).status === 429
  );
}
