import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "@toolformer/runtime";
import { startNatsServer, type NatsServer } from "@toolformer/testing";

/**
 * The client's errors module, as its request code reads it (at call time): counting what is built
 * there shows whether an answered request still pays for an Error nobody sees.
 */
function clientErrorsModule(): { RequestError: new (...args: unknown[]) => Error } {
  const require = createRequire(import.meta.url);
  const natsCore = require.resolve("@nats-io/nats-core/internal");
  return require(join(dirname(natsCore), "errors.js")) as { RequestError: new (...args: unknown[]) => Error };
}

describe("an answered request settles without building an Error (settled-requests.ts)", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats(server.url, "settled-requests-test", server.credentials("admin"));
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  const muxSize = () =>
    (nc as unknown as { protocol: { muxSubscriptions: { size(): number } } }).protocol.muxSubscriptions.size();

  it("answers requests and JetStream publishes, leaves no request behind, and builds no RequestError", async () => {
    const subject = `settled.${Date.now()}`;
    const responder = nc.subscribe(subject, { callback: (_error, msg) => void msg.respond(msg.data) });
    const jsm = await jetstreamManager(nc);
    const stream = `SETTLED_${Date.now()}`;
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    const js = jetstream(nc);

    const errorsModule = clientErrorsModule();
    const Original = errorsModule.RequestError;
    let built = 0;
    errorsModule.RequestError = class extends Original {
      constructor(...args: unknown[]) {
        super(...args);
        built++;
      }
    };
    try {
      const replies = await Promise.all([1, 2, 3].map((n) => nc.request(subject, new Uint8Array([n]))));
      expect(replies.map((reply) => reply.data[0])).toEqual([1, 2, 3]);
      const ack = await js.publish(`${stream}.a`, new Uint8Array([7]));
      expect(ack.seq).toBe(1);
      expect(built).toBe(0);
      expect(muxSize()).toBe(0);
    } finally {
      errorsModule.RequestError = Original;
      responder.unsubscribe();
      await jsm.streams.delete(stream);
    }
  });

  it("still fails a request nobody answers, as the client did", async () => {
    const error = await nc.request(`nobody.${Date.now()}`, new Uint8Array(), { timeout: 500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as { isNoResponders?: () => boolean }).isNoResponders?.()).toBe(true);
    expect(muxSize()).toBe(0);
  });
});
