import { inSpan, spanContextOf, traceparentHere } from "@toolformer/runtime";

/**
 * Starts a turn's speculative calls in a `speculate` span of their own trace, linked to the request's
 * span (`traceparent`): they are the engine's guesses, not steps the request asked for, so the request's
 * trace stays the model's calls while a backend can still follow the link. `work` gets the traceparent
 * the calls carry (the request's own when tracing is off, so logs still correlate).
 */
export function speculateInSpan<T>(
  requestTraceparent: string,
  attributes: Record<string, string | number>,
  work: (traceparent: string) => Promise<T>,
): Promise<T> {
  const request = spanContextOf(requestTraceparent);
  return inSpan("speculate", { root: true, attributes, ...(request ? { links: [{ context: request }] } : {}) }, () =>
    work(traceparentHere(requestTraceparent)),
  );
}
