import { setTimeout as sleep } from "node:timers/promises";
import type { ModelProvider, ModelToolCall, ModelTurn, ModelTurnRequest } from "@toolformer/providers";
import type { Logger } from "@toolformer/runtime";
import { decideRetry } from "./retry-policy.ts";

/**
 * One model turn, asked again after passing failures as the retry policy allows. Once a streamed
 * call has been handed on, a failed attempt is not repeated (the model could answer differently and
 * the call would run twice): the turn is then the calls that were complete.
 */
export async function askModel(
  provider: ModelProvider,
  request: ModelTurnRequest,
  options: { signal: AbortSignal; deadline: number; onToolCall?: (call: ModelToolCall) => void; log: Logger },
): Promise<ModelTurn> {
  const handed: ModelToolCall[] = [];
  const listener = options.onToolCall
    ? (call: ModelToolCall) => {
        handed.push(call);
        options.onToolCall?.(call);
      }
    : undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await provider.complete(request, options.signal, listener);
    } catch (error) {
      if (options.signal.aborted) throw error;
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
