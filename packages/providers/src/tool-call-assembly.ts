import type { ModelToolCall, ToolCallListener } from "./types.ts";

/**
 * Builds tool calls from streamed fragments and reports each one once, as early as it is known to be
 * complete: when its arguments parse as a JSON object (a complete object cannot grow into a longer one),
 * when the provider says the block ended, when a later call starts, or when the stream ends.
 */
export class ToolCallAssembly {
  readonly #calls: { id: string; name: string; arguments: string; reported: boolean }[] = [];
  readonly #listener: ToolCallListener | undefined;

  constructor(listener: ToolCallListener | undefined) {
    this.#listener = listener;
  }

  start(index: number, id: string, name: string): void {
    for (let earlier = 0; earlier < index; earlier++) this.end(earlier);
    this.#calls[index] ??= { id, name, arguments: "", reported: false };
  }

  append(index: number, fragment: string): void {
    const call = this.#calls[index];
    if (!call) return;
    call.arguments += fragment;
    if (isCompleteObject(call.arguments)) this.end(index);
  }

  end(index: number): void {
    const call = this.#calls[index];
    if (!call || call.reported) return;
    call.reported = true;
    this.#listener?.({ id: call.id, name: call.name, arguments: call.arguments });
  }

  finish(): ModelToolCall[] {
    this.#calls.forEach((_, index) => this.end(index));
    return this.#calls.filter(Boolean).map(({ id, name, arguments: args }) => ({ id, name, arguments: args }));
  }
}

function isCompleteObject(text: string): boolean {
  if (!text.trimEnd().endsWith("}")) return false;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
