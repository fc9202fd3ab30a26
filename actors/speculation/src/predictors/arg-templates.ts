import { pointInto, type ObservedCall } from "@toolformer/protocol";

/**
 * Where one value of a call's arguments came from, so the same call can be rebuilt for another
 * request: a constant, a stretch of the prompt (found again by the text around it), or a value in the
 * result of a call of the previous round (the `nth` call of that tool, at a JSON pointer).
 */
export type ArgSource =
  | { from: "const"; value: unknown }
  | { from: "prompt"; before: string; after: string }
  | { from: "result"; tool: string; nth: number; pointer: string };

export type ArgTemplate =
  | { kind: "object"; entries: [string, ArgTemplate][] }
  | { kind: "array"; items: ArgTemplate[] }
  | { kind: "leaf"; source: ArgSource };

/** What a call's arguments can be built from: the prompt and the previous round's calls. */
export interface TemplateContext {
  prompt: string;
  previous: ObservedCall[];
}

/** Strings shorter than this are taken as constants: a short value found elsewhere is likely chance. */
const DERIVED_MIN_LENGTH = 3;
/** How much text on each side of a value taken from the prompt is kept to find it again. */
const PROMPT_ANCHOR_CHARS = 24;
/** Nodes of a result looked through for a value (results can be large; this is a guess, not a search). */
const RESULT_SCAN_LIMIT = 5_000;

/** How the arguments can be rebuilt from the context they were written in. */
export function templateOf(args: unknown, context: TemplateContext): ArgTemplate {
  if (Array.isArray(args)) return { kind: "array", items: args.map((item) => templateOf(item, context)) };
  if (typeof args === "object" && args !== null)
    return { kind: "object", entries: Object.entries(args).map(([key, value]) => [key, templateOf(value, context)]) };
  return { kind: "leaf", source: sourceOf(args, context) };
}

function sourceOf(value: unknown, context: TemplateContext): ArgSource {
  if (typeof value !== "string" || value.length < DERIVED_MIN_LENGTH) return { from: "const", value };
  for (const [index, call] of context.previous.entries()) {
    if (call.result === undefined) continue;
    const pointer = findPointer(call.result, value);
    if (pointer !== undefined)
      return { from: "result", tool: call.tool, nth: nthOfTool(context.previous, index), pointer };
  }
  const at = context.prompt.indexOf(value);
  if (at >= 0) {
    const before = context.prompt.slice(Math.max(0, at - PROMPT_ANCHOR_CHARS), at);
    const after = context.prompt.slice(at + value.length, at + value.length + PROMPT_ANCHOR_CHARS);
    return { from: "prompt", before, after };
  }
  return { from: "const", value };
}

/** Which call of its tool the call at `index` is (0 for the first call of that tool in the round). */
function nthOfTool(calls: ObservedCall[], index: number): number {
  return calls.slice(0, index).filter((call) => call.tool === calls[index]!.tool).length;
}

/** The JSON pointer (RFC 6901) of the first string in `root` equal to `value`, in document order. */
function findPointer(root: unknown, value: string): string | undefined {
  let budget = RESULT_SCAN_LIMIT;
  const visit = (node: unknown, path: string): string | undefined => {
    if (--budget < 0) return undefined;
    if (node === value) return path;
    if (typeof node !== "object" || node === null) return undefined;
    for (const [key, child] of Object.entries(node)) {
      const found = visit(child, `${path}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return visit(root, "");
}

/** The arguments the template gives in a new context, or undefined when a value cannot be found there. */
export function instantiate(template: ArgTemplate, context: TemplateContext): unknown {
  const missing = Symbol("missing");
  const build = (node: ArgTemplate): unknown => {
    switch (node.kind) {
      case "array": {
        const items = node.items.map(build);
        return items.includes(missing) ? missing : items;
      }
      case "object": {
        const entries = node.entries.map(([key, child]) => [key, build(child)] as const);
        return entries.some(([, value]) => value === missing) ? missing : Object.fromEntries(entries);
      }
      case "leaf":
        return valueOf(node.source, context) ?? missing;
    }
  };
  const built = build(template);
  return built === missing ? undefined : built;
}

function valueOf(source: ArgSource, context: TemplateContext): unknown {
  switch (source.from) {
    case "const":
      return source.value;
    case "prompt": {
      const { prompt } = context;
      const start = source.before === "" ? 0 : prompt.indexOf(source.before);
      if (start < 0) return undefined;
      const from = start + source.before.length;
      const end = source.after === "" ? prompt.length : prompt.indexOf(source.after, from);
      const value = end < 0 ? "" : prompt.slice(from, end);
      return value.length >= DERIVED_MIN_LENGTH ? value : undefined;
    }
    case "result": {
      const call = context.previous.filter((c) => c.tool === source.tool)[source.nth];
      if (call?.result === undefined) return undefined;
      const found = pointInto(call.result, source.pointer);
      return found.ok ? found.value : undefined;
    }
  }
}
