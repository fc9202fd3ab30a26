/**
 * References between the tool calls of one model turn (an LLMCompiler-style plan): anywhere in a
 * call's arguments, `{"$ref": "<callId>"}` stands for that call's whole result and
 * `{"$ref": "<callId>#/json/pointer"}` for a part of it (RFC 6901). The scheduler runs the call once
 * everything it names has succeeded, with the references replaced by the values.
 */

export interface CallReference {
  callId: string;
  /** RFC 6901 pointer into the result; "" is the whole result. */
  pointer: string;
}

/** An object whose only key is `$ref` with a string value. */
function asReference(value: unknown): CallReference | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  const target = (value as { $ref?: unknown }).$ref;
  if (keys.length !== 1 || typeof target !== "string") return undefined;
  const hash = target.indexOf("#");
  return hash < 0
    ? { callId: target, pointer: "" }
    : { callId: target.slice(0, hash), pointer: target.slice(hash + 1) };
}

/** Every reference in a call's arguments, in document order (a call may name another more than once). */
export function referencesIn(args: unknown): CallReference[] {
  const found: CallReference[] = [];
  const visit = (value: unknown): void => {
    const reference = asReference(value);
    if (reference) return void found.push(reference);
    if (Array.isArray(value)) return value.forEach(visit);
    if (typeof value === "object" && value !== null) Object.values(value).forEach(visit);
  };
  visit(args);
  return found;
}

/** The calls a call's arguments name, each once. */
export function dependenciesOf(args: unknown): string[] {
  return [...new Set(referencesIn(args).map((reference) => reference.callId))];
}

export type Resolution = { ok: true; value: unknown } | { ok: false; error: string };

/** The arguments with each reference swapped for what `replace` gives for it. */
export function replaceReferences(args: unknown, replace: (reference: CallReference) => unknown): unknown {
  const visit = (value: unknown): unknown => {
    const reference = asReference(value);
    if (reference) return replace(reference);
    if (Array.isArray(value)) return value.map(visit);
    if (typeof value === "object" && value !== null)
      return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, visit(inner)]));
    return value;
  };
  return visit(args);
}

/** The arguments with every reference replaced by the named result (or part of it). */
export function resolveReferences(args: unknown, resultOf: (callId: string) => unknown): Resolution {
  let error: string | undefined;
  const value = replaceReferences(args, (reference) => {
    const found = pointInto(resultOf(reference.callId), reference.pointer);
    if (!found.ok) error ??= `$ref ${reference.callId}#${reference.pointer}: ${found.error}`;
    return found.ok ? found.value : undefined;
  });
  return error === undefined ? { ok: true, value } : { ok: false, error };
}

/** The arguments with references to renamed calls pointing at their new ids. */
export function renameReferences(args: unknown, renamed: ReadonlyMap<string, string>): unknown {
  return replaceReferences(args, ({ callId, pointer }) => ({
    $ref: `${renamed.get(callId) ?? callId}${pointer === "" ? "" : `#${pointer}`}`,
  }));
}

/** Follows an RFC 6901 pointer ("" or "/a/0/b", with ~1 for "/" and ~0 for "~"). */
export function pointInto(document: unknown, pointer: string): Resolution {
  if (pointer === "") return { ok: true, value: document };
  if (!pointer.startsWith("/")) return { ok: false, error: `a JSON pointer starts with "/"` };
  let current = document;
  for (const raw of pointer.slice(1).split("/")) {
    const token = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    const container = current as Record<string, unknown> | unknown[] | null;
    const has =
      typeof container === "object" &&
      container !== null &&
      (Array.isArray(container)
        ? /^(0|[1-9]\d*)$/.test(token) && Number(token) < container.length
        : Object.hasOwn(container, token));
    if (!has) return { ok: false, error: `the result has nothing at ${pointer}` };
    current = Array.isArray(container) ? container[Number(token)] : (container as Record<string, unknown>)[token];
  }
  return { ok: true, value: current };
}

/**
 * Problems in a whole plan, before anything runs: references to calls that are not in it, and
 * cycles (each named by its calls in order, e.g. ["a", "b", "a"]).
 */
export function planProblems(calls: { callId: string; args: unknown }[]): {
  dangling: { callId: string; missing: string }[];
  cycles: string[][];
} {
  const needs = new Map(calls.map((call) => [call.callId, dependenciesOf(call.args)]));
  const dangling = calls.flatMap((call) =>
    needs
      .get(call.callId)!
      .filter((id) => !needs.has(id))
      .map((missing) => ({ callId: call.callId, missing })),
  );
  const cycles: string[][] = [];
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (id: string): void => {
    state.set(id, "visiting");
    path.push(id);
    for (const next of needs.get(id) ?? []) {
      if (!needs.has(next)) continue;
      if (state.get(next) === "visiting") cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(id, "done");
  };
  for (const call of calls) if (!state.has(call.callId)) visit(call.callId);
  return { dangling, cycles };
}
