import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/transport-node";

/**
 * The connection's reconnects, told to whoever waits on one. A reply is a core NATS message to the
 * client's inbox: one sent while the client's connection was down is gone, and nothing tells the
 * client so. A reconnect is the one moment the client knows it may have missed something.
 */
export class Reconnects {
  readonly #waiting = new Set<() => void>();

  constructor(nc: NatsConnection) {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "reconnect") for (const onReconnect of [...this.#waiting]) onReconnect();
      }
    })();
  }

  /** Calls `onReconnect` after each reconnect until the returned function is called. */
  watch(onReconnect: () => void): () => void {
    this.#waiting.add(onReconnect);
    return () => this.#waiting.delete(onReconnect);
  }
}

/**
 * A request/reply that survives a reply lost with the connection: each time the connection comes back
 * while no reply has come, the same request is sent again (the caller makes it safe to repeat, as an
 * `orchestrate.request` with its id is) on a fresh inbox, and the first reply of any send wins. A send
 * again that fails (nobody listened at that moment) leaves the others waiting; the request fails only
 * when every send has, with the first send's error. Every send gives up at the same time.
 */
export function requestAcrossReconnects(
  nc: NatsConnection,
  reconnects: Reconnects,
  subject: string,
  data: Uint8Array,
  options: { headers?: MsgHdrs; timeout: number },
): Promise<Msg> {
  const giveUpAt = Date.now() + options.timeout;
  return new Promise((resolve, reject) => {
    const errors: unknown[] = [];
    let sends = 0;
    let open = 0;
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      stopWatching();
      finish();
    };
    const send = () => {
      const timeout = giveUpAt - Date.now();
      if (settled || timeout <= 0) return;
      const index = sends++;
      open++;
      nc.request(subject, data, { ...(options.headers ? { headers: options.headers } : {}), timeout }).then(
        (msg) => settle(() => resolve(msg)),
        (error: unknown) => {
          errors[index] = error;
          if (--open === 0) settle(() => reject(errors[0]));
        },
      );
    };
    const stopWatching = reconnects.watch(send);
    send();
  });
}
