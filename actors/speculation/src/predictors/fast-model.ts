import type { SpeculationContext } from "@toolformer/protocol";
import { toolRoundMessages, type ConversationMessage, type ModelProvider } from "@toolformer/providers";
import type { GenAiClientMetrics } from "@toolformer/runtime";
import { Predictor, type Prediction } from "./prediction.ts";

/**
 * Asks a cheaper model the main model's question (same conversation, same tools) and takes the calls
 * it would make as predictions, with the tokens that cost. Its confidence is left to calibration: how
 * often its guesses for a tool were claimed.
 */
export async function predictWithModel(
  model: { provider: ModelProvider; model: string },
  context: SpeculationContext,
  signal: AbortSignal,
  genAi: GenAiClientMetrics,
): Promise<{ predictions: Prediction[]; usage: { inputTokens: number; outputTokens: number } }> {
  const request = {
    model: model.model,
    ...(context.system === undefined ? {} : { system: context.system }),
    messages: conversationOf(context),
    tools: context.tools.map((tool) => tool.definition),
  };
  const turn = await genAi.timeChat(model.provider.name, model.model, () => model.provider.complete(request, signal));
  const predictions = turn.toolCalls.flatMap((call) => {
    try {
      const args: unknown = call.arguments.trim() === "" ? {} : JSON.parse(call.arguments);
      return [{ tool: call.name, args, confidence: 1, predictor: Predictor.fastModel }];
    } catch {
      return []; // unreadable arguments predict nothing
    }
  });
  return { predictions, usage: turn.usage };
}

/** The conversation the main model sees at this turn, rebuilt from the request and its rounds so far. */
export function conversationOf(context: SpeculationContext): ConversationMessage[] {
  const opening: ConversationMessage[] = context.messages.map((m) => ({ role: m.role, content: m.content }));
  const rounds = context.previous.flatMap((calls, round) =>
    toolRoundMessages(
      calls.map((call, i) => {
        const failed = call.status !== "succeeded";
        return {
          id: `r${round + 1}-c${i}`,
          name: call.tool,
          arguments: JSON.stringify(call.args),
          isError: failed,
          content: failed ? `Error: the call ended ${call.status}` : JSON.stringify(call.result ?? null),
        };
      }),
    ),
  );
  return [...opening, ...rounds];
}
