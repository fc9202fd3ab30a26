import { connect, type NatsConnection } from "@nats-io/transport-node";
import { connectionOptions, type NatsAuth } from "@toolformer/client";
import { coalesceWritesPerTurn } from "./coalesced-writes.ts";
import { settleAnsweredRequestsQuietly } from "./settled-requests.ts";

/**
 * Connects with the actor's credentials and keeps reconnecting for as long as the process lives:
 * actors outlive server restarts.
 * `noAsyncTraces`: by default the client builds an Error with a stack trace for every request and
 * JetStream publish, in case it fails; profiled, that was 16-28% of an actor's CPU. Actors log their
 * own context (request, call, subject) with every failure instead; `settleAnsweredRequestsQuietly`
 * removes the Error the client still builds for every answered request.
 */
export async function connectNats(servers: string, name: string, auth: NatsAuth = {}): Promise<NatsConnection> {
  settleAnsweredRequestsQuietly();
  coalesceWritesPerTurn();
  return connect({
    ...connectionOptions(servers, auth),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    noAsyncTraces: true,
  });
}
