import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager, type ConsumerInfo } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  CONSUMERS,
  ContentType,
  decode,
  KV_BUCKETS,
  SpeculationLedgerSchema,
  SpeculativeCallState,
  STREAMS,
} from "@toolformer/protocol";

export interface ConsumerSeen {
  stream: string;
  name: string;
  durable: boolean;
  numPending: number;
  numAckPending: number;
  filter: string;
}

export interface StaleLedger {
  key: string;
  ended: boolean;
  runningCalls: number;
}

/** What is left behind once every request has been answered. */
export interface Leftovers {
  /**
   * Consumers on the project's streams other than the durable ones the actors declare: how many by each
   * stream's consumer count (which a cluster takes from its assignment records, nats-server#2895, and
   * may include a consumer lost with a node), and those the server lists.
   */
  leakedConsumerCount: number;
  /** Streams whose consumer count exceeds their declared consumers, by how many. */
  leakedByStream: Record<string, number>;
  leakedConsumers: ConsumerSeen[];
  declaredConsumers: ConsumerSeen[];
  /** Consumers on the KV and object-store streams (the actors' watches): reported, not judged. */
  storeConsumers: number;
  ledgerEntries: number;
  /** Ledger entries of requests that have all ended: not ended, or with speculative calls still running. */
  staleLedgers: StaleLedger[];
}

function consumerSeen(stream: string, info: ConsumerInfo): ConsumerSeen {
  return {
    stream,
    name: info.name,
    durable: Boolean(info.config.durable_name),
    numPending: info.num_pending,
    numAckPending: info.num_ack_pending,
    filter: info.config.filter_subject ?? (info.config.filter_subjects ?? []).join(","),
  };
}

/** The durable consumers each stream should have: the actors declare these and nothing else. */
function declared(hostedTools: string[]): Map<string, Set<string>> {
  return new Map([
    [STREAMS.requests.name, new Set([CONSUMERS.dispatcherRunner])],
    [STREAMS.rounds.name, new Set([CONSUMERS.scheduler])],
    [STREAMS.exec.name, new Set(hostedTools.map(CONSUMERS.executorForTool))],
    [STREAMS.results.name, new Set<string>()],
    [STREAMS.events.name, new Set([CONSUMERS.speculationObserver])],
    [STREAMS.speculation.name, new Set([CONSUMERS.speculationLearner])],
  ]);
}

async function lookOnce(nc: NatsConnection, hostedTools: string[]): Promise<Leftovers> {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  const allowed = declared(hostedTools);
  const leaked: ConsumerSeen[] = [];
  const kept: ConsumerSeen[] = [];
  let storeConsumers = 0;
  let leakedConsumerCount = 0;
  const leakedByStream: Record<string, number> = {};
  for await (const stream of jsm.streams.list()) {
    const name = stream.config.name;
    const names = allowed.get(name);
    if (!names) {
      storeConsumers += stream.state.consumer_count;
      continue;
    }
    // Asked by name: a server's consumer list may stop after a page.
    let declaredThere = 0;
    for (const durable of names) {
      const info = await jsm.consumers.info(name, durable).catch(() => undefined);
      if (!info) continue;
      declaredThere++;
      kept.push(consumerSeen(name, info));
    }
    const extra = stream.state.consumer_count - declaredThere;
    leakedConsumerCount += extra;
    if (extra !== 0) leakedByStream[name] = extra;
    for await (const info of jsm.consumers.list(name)) {
      if (!(info.config.durable_name && names.has(info.name))) leaked.push(consumerSeen(name, info));
    }
  }
  const kv = await new Kvm(nc).open(KV_BUCKETS.speculationCalls);
  const staleLedgers: StaleLedger[] = [];
  let ledgerEntries = 0;
  for await (const key of await kv.keys()) {
    const entry = await kv.get(key);
    if (!entry || entry.operation !== "PUT") continue;
    ledgerEntries++;
    const ledger = SpeculationLedgerSchema.parse(decode(entry.value, ContentType.msgpack));
    const runningCalls = Object.values(ledger.rounds)
      .flatMap((round) => Object.values(round.calls))
      .filter((call) => call.state === SpeculativeCallState.running).length;
    if (!ledger.ended || runningCalls > 0) staleLedgers.push({ key, ended: ledger.ended, runningCalls });
  }
  return {
    leakedConsumerCount,
    leakedByStream,
    leakedConsumers: leaked,
    declaredConsumers: kept,
    storeConsumers,
    ledgerEntries,
    staleLedgers,
  };
}

/**
 * Looks until nothing is left behind or `withinMs` has passed, so that what is only being cleaned up
 * (an ephemeral consumer's inactivity timeout, a ledger closed a moment after the reply) is not
 * counted; what remains after that is a leak.
 */
export async function findLeftovers(nc: NatsConnection, hostedTools: string[], withinMs: number): Promise<Leftovers> {
  const giveUpAt = Date.now() + withinMs;
  for (;;) {
    const seen = await lookOnce(nc, hostedTools);
    if ((seen.leakedConsumerCount === 0 && seen.staleLedgers.length === 0) || Date.now() >= giveUpAt) return seen;
    await sleep(2_000);
  }
}
