import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "@toolformer/runtime";
import { startNatsServer, type NatsServer } from "@toolformer/testing";

/** Counts the socket writes a connection makes (coalesced-writes.ts). */
function countWrites(nc: NatsConnection): { count(): number; restore(): void } {
  const transport = (nc as unknown as { protocol: { transport: { send(frame: Uint8Array): unknown } } }).protocol
    .transport;
  const send = transport.send.bind(transport);
  let writes = 0;
  transport.send = (frame) => {
    writes++;
    return send(frame);
  };
  return { count: () => writes, restore: () => void (transport.send = send) };
}

describe("what an actor sends in one turn of the event loop goes out in one write (coalesced-writes.ts)", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let listener: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats(server.url, "coalesced-writes-test", server.credentials("admin"));
    listener = await server.connect("admin");
  });
  afterAll(async () => {
    await Promise.all([nc?.close(), listener?.close()]);
    await server?.stop();
  });

  it("writes publishes from separate microtasks of one turn together, in the order they were made", async () => {
    const subject = `coalesced.${Date.now()}`;
    const received: number[] = [];
    const all = new Promise<void>((resolve) => {
      listener.subscribe(subject, {
        callback: (_error, msg: Msg) => {
          received.push(msg.data[0]!);
          if (received.length === 5) resolve();
        },
      });
    });
    await listener.flush();
    const writes = countWrites(nc);
    try {
      // Each publish after an await, as handlers of messages read together make theirs.
      await Promise.all(
        [1, 2, 3, 4, 5].map(async (n) => {
          for (let i = 0; i < n; i++) await Promise.resolve();
          nc.publish(subject, new Uint8Array([n]));
        }),
      );
      await all;
      expect(writes.count()).toBe(1);
      expect(received).toEqual([1, 2, 3, 4, 5]);
    } finally {
      writes.restore();
    }
  });

  it("still answers requests and flushes at once", async () => {
    const subject = `coalesced.echo.${Date.now()}`;
    const responder = nc.subscribe(subject, { callback: (_error, msg) => void msg.respond(msg.data) });
    const reply = await nc.request(subject, new Uint8Array([9]), { timeout: 2_000 });
    expect(reply.data[0]).toBe(9);
    await nc.flush();
    responder.unsubscribe();
  });
});
