import type { KV, KvEntry } from "@nats-io/kv";
import { setTimeout as sleep } from "node:timers/promises";
import { backoffDelayMs } from "./backoff.ts";
import { whileStarting } from "./jetstream-io.ts";
import type { Logger } from "./logger.ts";

export interface KvFollower {
  stop(): void;
}

/**
 * Follows keys of a bucket for as long as it runs: the current values first, then every change, each
 * to `onEntry`. A KV watch is an ordered consumer on one node; when that node dies, the client makes it
 * again after two missed heartbeats, and when it gives up the watch ends. Then it is started again here
 * (with backoff, the current values first), so a follower never silently stops following.
 *
 * A watch made while a node dies can also stay silent without ending (the server lost its consumer): a
 * follower that a request waits on (a repeat's reply, a call's approval) passes `pollMs`, and its key
 * (one key, not a wildcard) is then also read that often; an entry no newer than one already passed on
 * is not passed on again. Its reads start before the watch is made, and `signal` stops trying to make
 * the watch once whoever waits has what it waited for.
 */
export async function followKv(
  kv: KV,
  key: string,
  onEntry: (entry: KvEntry) => void,
  log: Logger,
  what: string,
  options: { pollMs?: number; signal?: AbortSignal } = {},
): Promise<KvFollower> {
  let stopped = false;
  let lastRevision = 0;
  const pass = (entry: KvEntry) => {
    if (options.pollMs !== undefined && entry.revision <= lastRevision) return;
    lastRevision = Math.max(lastRevision, entry.revision);
    onEntry(entry);
  };
  const poll =
    options.pollMs === undefined
      ? undefined
      : setInterval(
          () =>
            void kv.get(key).then(
              (entry) => !stopped && entry && pass(entry),
              () => undefined,
            ),
          options.pollMs,
        );
  let watch = await whileStarting(() => kv.watch({ key }), options.signal).catch((error: unknown) => {
    clearInterval(poll);
    throw error;
  });
  const follow = async () => {
    for (let failures = 0; !stopped;) {
      try {
        for await (const entry of watch) {
          failures = 0;
          pass(entry);
        }
        if (!stopped) log.warn({ key }, `the watch of ${what} ended; watching again`);
      } catch (error) {
        if (!stopped) log.warn({ err: error, key }, `the watch of ${what} failed; watching again`);
      }
      while (!stopped) {
        await sleep(backoffDelayMs(++failures));
        try {
          watch = await kv.watch({ key });
          if (stopped) watch.stop();
          break;
        } catch (error) {
          log.warn({ err: error, key }, `could not watch ${what}; trying again`);
        }
      }
    }
  };
  void follow();
  return {
    stop() {
      stopped = true;
      clearInterval(poll);
      watch.stop();
    },
  };
}
