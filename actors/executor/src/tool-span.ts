import { redactPaths, sensitivePaths, type ExecCall, type ToolDefinition } from "@toolformer/protocol";
import { inSpan, traceparentHere } from "@toolformer/runtime";

type Attributes = Record<string, string | number | boolean>;

/** An argument or result on a span is cut to this many characters (a span is not a result store). */
export const MAX_TOOL_CONTENT_CHARS = 4_096;

/** The name and attributes of one try of a tool, by the GenAI conventions (`execute_tool {gen_ai.tool.name}`). */
export function toolSpanStart(
  call: Pick<ExecCall, "tool" | "callId" | "requestId" | "speculative">,
  attempt: number,
): { name: string; attributes: Attributes } {
  return {
    name: `execute_tool ${call.tool}`,
    attributes: {
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": call.tool,
      "gen_ai.tool.call.id": call.callId,
      // The model calls every tool as a function, wherever it runs (in-process, a NATS service, MCP).
      "gen_ai.tool.type": "function",
      "toolformer.request.id": call.requestId,
      "toolformer.call.attempt": attempt,
      ...(call.speculative ? { "toolformer.call.speculative": true } : {}),
    },
  };
}

/**
 * A value as a span attribute: the fields the tool's schema marks sensitive redacted (as in events),
 * then JSON, cut to MAX_TOOL_CONTENT_CHARS.
 */
export function toolContent(value: unknown, parameters: ToolDefinition["parameters"] | undefined): string {
  const text = JSON.stringify(redactPaths(value, sensitivePaths(parameters))) ?? "null";
  return text.length > MAX_TOOL_CONTENT_CHARS ? `${text.slice(0, MAX_TOOL_CONTENT_CHARS)}…` : text;
}

/**
 * Runs one try of a tool in its span; `invoke` gets the span's `traceparent` to hand on (a remote
 * service's header, an MCP call's `_meta`). Arguments and result go on the span only when
 * `captureContent` (opt-in: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT), redacted.
 */
export function invokeInSpan<T>(
  call: Pick<ExecCall, "tool" | "callId" | "requestId" | "speculative" | "args" | "traceparent">,
  attempt: number,
  tool: { definition: ToolDefinition; captureContent: boolean },
  invoke: (traceparent: string) => Promise<T>,
): Promise<T> {
  const { name, attributes } = toolSpanStart(call, attempt);
  const { parameters } = tool.definition;
  if (tool.captureContent) attributes["gen_ai.tool.call.arguments"] = toolContent(call.args, parameters);
  return inSpan(name, { attributes }, async (span) => {
    const value = await invoke(traceparentHere(call.traceparent));
    if (tool.captureContent) span.setAttribute("gen_ai.tool.call.result", toolContent(value, undefined));
    return value;
  });
}
