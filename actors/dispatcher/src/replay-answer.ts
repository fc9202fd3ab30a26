import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ContentType,
  encode,
  ErrorCode,
  type OrchestrateReply,
  type ReplayReply,
  type ReplayRun,
} from "@toolformer/protocol";
import { contentTypeHeaders, retryUntil, type ActorContext } from "@toolformer/runtime";
import { messageBudget } from "@toolformer/result-store";
import { RequestProgress } from "./progress.ts";
import { diffReplay } from "./replay-diff.ts";
import { readTimeline } from "./timeline.ts";

/**
 * A replay's answer as the bytes of one message (JSON). One too large (two runs' worth of results) is
 * answered with `PAYLOAD_TOO_LARGE` instead, naming the replay's id, whose events and reply are kept.
 */
export function replayAnswerBytes(answer: ReplayReply, budget: number): Uint8Array {
  const bytes = encode(answer, ContentType.json);
  if (bytes.byteLength <= budget) return bytes;
  const replayId = answer.ok ? answer.replayId : undefined;
  const tooLarge: ReplayReply = {
    ok: false,
    error: {
      code: ErrorCode.PAYLOAD_TOO_LARGE,
      message: `the answer is ${bytes.byteLength} bytes, more than one message carries (${budget})${replayId === undefined ? "" : `; the replay ran as ${replayId}`}`,
      ...(replayId === undefined ? {} : { details: { replayId } }),
    },
  };
  return encode(tooLarge, ContentType.json);
}

/** Sends a replay's answer to the inbox that asked. */
export function sendReplayAnswer(nc: NatsConnection, inbox: string, answer: ReplayReply): void {
  nc.publish(inbox, replayAnswerBytes(answer, messageBudget(nc)), { headers: contentTypeHeaders(ContentType.json) });
}

/**
 * Answers a replay that has run (ADR 0027): its reply against the replayed request's timeline, read
 * again from the records (the same the replay was made from, unless they expired meanwhile).
 */
export async function answerReplay(
  ctx: Pick<ActorContext, "nc" | "js" | "jsm">,
  run: ReplayRun,
  requests: KV,
  reply: OrchestrateReply,
): Promise<void> {
  if (!run.replyTo) return;
  const original = new RequestProgress(ctx, { ...run, requestId: run.replayOf });
  const read = await readTimeline(run.replayOf, requests, original, { giveUpAt: retryUntil(run.deadline) });
  const answer: ReplayReply = read.ok
    ? { ok: true, recorded: read.timeline, replayId: reply.id ?? run.requestId, diff: diffReplay(read.timeline, reply) }
    : read;
  sendReplayAnswer(ctx.nc, run.replyTo, answer);
}
