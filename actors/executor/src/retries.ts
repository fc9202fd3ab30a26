import { setTimeout as sleep } from "node:timers/promises";
import { TerminalError } from "@toolformer/protocol";
import type { Logger } from "@toolformer/runtime";

/** Tries of one idempotent call before its error is final. */
export const IDEMPOTENT_ATTEMPTS = 3;
const FIRST_BACKOFF_MS = 100;

/** The pause before try `next` (2, 3, ...): doubling from 100 ms, with up to a quarter more at random. */
export function backoffMs(next: number, random = Math.random): number {
  const base = FIRST_BACKOFF_MS * 2 ** (next - 2);
  return Math.round(base * (1 + random() / 4));
}

/**
 * Runs a tool, and for an idempotent one tries again after a failure that may pass (anything but a
 * TerminalError: a thrown exception, a request that timed out or found no service), with backoff, while
 * its AbortSignal (tool timeout, deadline, cancel) allows. A tool with side effects is tried once.
 */
export async function withRetries<T>(
  run: () => Promise<T>,
  options: { idempotent: boolean; signal: AbortSignal; log: Logger },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const final =
        !options.idempotent ||
        error instanceof TerminalError ||
        options.signal.aborted ||
        attempt >= IDEMPOTENT_ATTEMPTS;
      if (final) throw error;
      const pause = backoffMs(attempt + 1);
      options.log.info({ err: error, attempt, pauseMs: pause }, "idempotent tool failed; trying again");
      await sleep(pause, undefined, { signal: options.signal });
    }
  }
}
