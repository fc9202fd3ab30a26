import { describe, expect, it } from "vitest";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { errors, headers } from "@nats-io/transport-node";
import { MIN_RETRY_WINDOW_MS, publishStored, retryUntil } from "./jetstream-io.ts";

/**
 * A stream that answers each publish with the next of `answers` (an ack, or an error to throw), and
 * whose last message on any subject carries the message id `lastMsgId` at sequence 8.
 */
function scriptedStream(answers: (Partial<PubAck> | Error)[], lastMsgId?: string) {
  const published: { subject: string; msgID: string | undefined }[] = [];
  const timeouts: (number | undefined)[] = [];
  const lookedUp: string[] = [];
  const header = headers();
  if (lastMsgId) header.set("Nats-Msg-Id", lastMsgId);
  const streams = {
    getMessage: async (stream: string, query: { last_by_subj: string }) => {
      lookedUp.push(`${stream} ${query.last_by_subj}`);
      return { seq: 8, header };
    },
  };
  const js = {
    jetstreamManager: async () => ({ streams }),
    publish: async (subject: string, _data: Uint8Array, options?: { msgID?: string; timeout?: number }) => {
      published.push({ subject, msgID: options?.msgID });
      timeouts.push(options?.timeout);
      const answer = answers.shift();
      if (!answer) throw new Error("no more answers scripted");
      if (answer instanceof Error) throw answer;
      return { stream: "S", seq: 1, duplicate: false, ...answer } as PubAck;
    },
  } as unknown as JetStreamClient;
  return { js, published, timeouts, lookedUp };
}

const soon = () => ({ giveUpAt: Date.now() + 2_000 });

describe("writes that ride out a leader election", () => {
  it("retry until the deadline, and a write made past it still gets a window of its own", () => {
    expect(retryUntil(50_000, 10_000)).toBe(50_000);
    expect(retryUntil(10_000, 10_000)).toBe(10_000 + MIN_RETRY_WINDOW_MS);
    expect(retryUntil(5_000, 10_000)).toBe(10_000 + MIN_RETRY_WINDOW_MS);
  });

  it("publish again under the same message id while nobody answers, until stored", async () => {
    const notEnabled = Object.assign(new Error("jetstream is not enabled"), { name: "JetStreamNotEnabled" });
    const { js, published } = scriptedStream([notEnabled, new errors.TimeoutError(), { seq: 7, duplicate: true }]);
    const ack = await publishStored(js, "tf.results.r.c", new Uint8Array(), { msgID: "r:c", ...soon() });
    expect([ack.seq, ack.retried]).toEqual([7, true]);
    expect(published).toEqual(Array(3).fill({ subject: "tf.results.r.c", msgID: "r:c" }));
  });

  it("tell a duplicate on the first try (another publisher's) from one after a retry (maybe this one's)", async () => {
    const first = scriptedStream([{ seq: 3, duplicate: true }]);
    const ack = await publishStored(first.js, "tf.request.run.r", new Uint8Array(), { msgID: "r:run", ...soon() });
    expect([ack.duplicate, ack.retried]).toEqual([true, false]);
  });

  it("do not take a duplicate of a try still being stored for a stored write", async () => {
    // A 2.9 server acks a duplicate of an unfinished try with sequence 0; a 2.11 server refuses it.
    const inProcess = new Error("duplicate message id is in process");
    const { js, published } = scriptedStream([{ seq: 0, duplicate: true }, inProcess, { seq: 12, duplicate: true }]);
    const ack = await publishStored(js, "$KV.b.k", new Uint8Array(), {
      msgID: "w1",
      expect: { lastSubjectSequence: 11 },
      ...soon(),
    });
    expect([ack.seq, published.length]).toEqual([12, 3]);
  });

  it("give each try a timeout shorter than the client's, longer while tries go unanswered in a row", async () => {
    // Lost twice (a node died with the try in flight), then the stream elects a leader (no responders,
    // an answer), then lost at the election and stored: the silence after an answer is short again.
    const notEnabled = Object.assign(new Error("jetstream is not enabled"), { name: "JetStreamNotEnabled" });
    const lost = () => new errors.TimeoutError();
    const { js, timeouts } = scriptedStream([lost(), lost(), notEnabled, lost(), { seq: 4 }]);
    const ack = await publishStored(js, "tf.results.r.c", new Uint8Array(), { msgID: "r:c", ...soon() });
    expect(ack.seq).toBe(4);
    expect(timeouts).toEqual([2_000, 4_000, 5_000, 2_000, 4_000]);

    // A duplicate of a try still being stored (a 2.9 server's sequence 0) is a slow stream: wait longer.
    const slow = scriptedStream([
      { seq: 0, duplicate: true },
      { seq: 9, duplicate: true },
    ]);
    await publishStored(slow.js, "$KV.b.k", new Uint8Array(), {
      msgID: "w4",
      tryTimeout: { firstTimeoutMs: 300, maxTimeoutMs: 1_000 },
      ...soon(),
    });
    expect(slow.timeouts).toEqual([300, 600]);
  });

  it("give up at once on a refusal, and after the deadline on silence", async () => {
    const refusal = scriptedStream([new Error("wrong last sequence: 4"), { seq: 5 }]);
    await expect(publishStored(refusal.js, "$KV.b.k", new Uint8Array(), { msgID: "w2", ...soon() })).rejects.toThrow(
      /wrong last sequence/,
    );
    expect(refusal.published).toHaveLength(1);
    expect(refusal.lookedUp).toEqual([]);

    const silent = scriptedStream(Array.from({ length: 50 }, () => new errors.TimeoutError()));
    await expect(
      publishStored(silent.js, "x", new Uint8Array(), { msgID: "w3", giveUpAt: Date.now() + 150 }),
    ).rejects.toThrow(/timeout/);
    expect(silent.published.length).toBeGreaterThan(1);
  });

  it("take a refusal after an unanswered try for a duplicate when the subject's last message is that try", async () => {
    // A new leader that had not applied the lost try yet let the retry through to a refusal (ADR 0042).
    const refusedAfterLostTry = (lastMsgId: string, msgID: string, stream?: string) => {
      const scripted = scriptedStream([new errors.TimeoutError(), new Error("wrong last sequence: 8")], lastMsgId);
      const ack = publishStored(scripted.js, "$KV.b.k", new Uint8Array(), {
        msgID,
        expect: { lastSubjectSequence: 7 },
        ...(stream ? { stream } : {}),
        ...soon(),
      });
      return { ack, lookedUp: scripted.lookedUp };
    };
    const own = refusedAfterLostTry("w5", "w5", "KV_b");
    expect(await own.ack).toEqual({ stream: "KV_b", seq: 8, duplicate: true, retried: true });
    expect(own.lookedUp).toEqual(["KV_b $KV.b.k"]);

    // Another writer's message is last: a real conflict (or this try overwritten since; nobody can tell).
    await expect(refusedAfterLostTry("someone-else", "w6", "KV_b").ack).rejects.toThrow(/wrong last sequence/);

    // A writer that does not name the stream gets the refusal as it came.
    const unnamed = refusedAfterLostTry("w7", "w7");
    await expect(unnamed.ack).rejects.toThrow(/wrong last sequence/);
    expect(unnamed.lookedUp).toEqual([]);
  });
});
