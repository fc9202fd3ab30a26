/**
 * Call claims (docs/adr/0030): before a call of a tool with side effects starts, the executor run that
 * will start it claims the call in KV (`tf_call_claims`), one key per call, by compare-and-set. A second
 * delivery of the call, on any copy, finds the claim and waits for the holder's result instead of
 * running the tool again; it takes the call over only once the holder's lease has lapsed (its executor
 * died or froze).
 */
import { z } from "zod";
import { subjectToken } from "../ids.ts";

export const CallClaimSchema = z.object({
  /** The executor copy that holds the call. */
  executorId: z.string(),
  /** The run (one delivery's run of the call) that holds it: another run of the same copy is another holder. */
  run: z.string(),
  /** The holder renews this while it works on the call; once past (epoch ms), the call may be taken over. */
  leaseUntil: z.number(),
});
export type CallClaim = z.infer<typeof CallClaimSchema>;

/** The key of a call's claim: the request (as a subject token), then the call id. */
export function callClaimKey(requestId: string, callId: string): string {
  return `${subjectToken(requestId)}.${callId}`;
}
