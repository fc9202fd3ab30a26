/** Tries of one idempotent call before its error is final (the call flow decides, `call-flow.ts`). */
export const IDEMPOTENT_ATTEMPTS = 3;
const FIRST_BACKOFF_MS = 100;

/**
 * The pause before try `next` (2, 3, ...) of an idempotent tool: doubling from 100 ms, with up to a
 * quarter more at random. Short: a tool's failures that pass (a thrown exception, a request that timed
 * out or found no service) pass within the call's own timeout or not at all.
 */
export function backoffMs(next: number, random = Math.random): number {
  const base = FIRST_BACKOFF_MS * 2 ** (next - 2);
  return Math.round(base * (1 + random() / 4));
}
