import type { Msg, NatsConnection } from "@nats-io/transport-node";

export interface AwaitRecordOptions<T> {
  /** Where the record is published live. */
  subject: string;
  /** The record in a live message, or undefined when the message is not one (malformed, another kind). */
  decode(msg: Msg): T | undefined;
  /** The record as stored (JetStream), or undefined while there is none. */
  lookUp(): Promise<T | undefined>;
  /** How often the store is looked up again, in case the live message was missed (a reconnect, a node's death). */
  pollMs: number;
  /** Stop waiting: the promise then resolves with undefined. */
  signal: AbortSignal;
}

/**
 * Waits for a record that one actor publishes for another, both live and stored: listens first, then
 * looks the record up (it may have been published before anyone listened, e.g. for a copy that took
 * the work over), then keeps looking it up now and then. Whichever comes first wins.
 */
export function awaitRecord<T>(nc: NatsConnection, options: AwaitRecordOptions<T>): Promise<T | undefined> {
  const live = nc.subscribe(options.subject);
  return new Promise<T | undefined>((resolve) => {
    let settled = false;
    const settle = (record: T | undefined) => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      options.signal.removeEventListener("abort", onAbort);
      live.unsubscribe();
      resolve(record);
    };
    const lookUp = () =>
      void options.lookUp().then(
        (record) => record !== undefined && settle(record),
        () => undefined, // the next look-up or the live message will do
      );
    const poll = setInterval(lookUp, options.pollMs);
    const onAbort = () => settle(undefined);
    if (options.signal.aborted) return onAbort();
    options.signal.addEventListener("abort", onAbort, { once: true });
    void (async () => {
      for await (const msg of live) {
        const record = options.decode(msg);
        if (record !== undefined) settle(record);
      }
    })();
    lookUp();
  });
}
