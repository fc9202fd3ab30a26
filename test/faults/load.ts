import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { EventType, EVENTS_WILDCARD, PUBLIC_SUBJECTS } from "@toolformer/protocol";
import { FAULT_MODEL } from "./model.ts";
import { COMBINE_TOOL, promptOf, seedName, WORK_TOOL } from "./scenario.ts";

export interface Reply {
  at: number;
  status: string;
  answer?: string;
  error?: { code?: string; message?: string };
  /** The reply's calls that did not succeed, in short (what a wrong answer is explained by). */
  unsucceeded?: { id: string; tool: string; status: string; code?: string; message?: string }[];
  /** A reply that is not a JSON reply body: its status header and the start of its body. */
  raw?: { code?: number; description?: string; headers?: Record<string, string>; body: string };
}

/** One publish of a request (the first, or a re-send with the same id) and every reply its inbox got. */
export interface Publish {
  at: number;
  replies: Reply[];
  /** Sent again because the client's connection came back while the request had no reply (it may have been lost). */
  onReconnect?: true;
  /** The server answered "no responders" (status 503): nobody was subscribed to take the request. */
  refusedAt?: number;
}

export type Phase = "warmup" | "faults";

export interface RequestRecord {
  id: string;
  seed: string;
  phase: Phase;
  publishes: Publish[];
  /** When the client first saw `request.accepted` for it. */
  acceptedAt?: number;
  /** The request's own events (`request.*`) as the client saw them: what a request never answered got to. */
  lifecycle?: { type: string; at: number }[];
}

export interface LoadOptions {
  runId: string;
  requestTimeoutMs: number;
  acceptWaitMs: number;
  maxResends: number;
  speculateEvery: number;
}

/** A publish refused for want of a responder is sent again this much later (what a client's retry would do). */
const REFUSED_RETRY_MS = 1_000;

/**
 * A client on a raw NATS connection: each publish has its own reply inbox, so every reply is counted
 * (not only the first), and a request that is not accepted in time is sent again with the same id.
 */
/** A time the client's own connection was down: publishes sent just before or during it may be lost on the way. */
export interface ClientOutage {
  from: number;
  /** When it reconnected; undefined if it never did. */
  to?: number;
}

export class LoadClient {
  readonly requests: RequestRecord[] = [];
  readonly outages: ClientOutage[] = [];
  /** `requestId callId` of every speculative call announced on the events. */
  readonly speculativeCalls = new Set<string>();
  /** `requestId callId` -> the `at` of each `tool.started` event (the executor's clock, after the permit). */
  readonly toolStarts = new Map<string, number[]>();
  readonly #nc: NatsConnection;
  readonly #options: LoadOptions;
  readonly #byId = new Map<string, RequestRecord>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #subscriptions: Subscription[] = [];
  readonly #inboxPrefix: string;
  #stopped = false;

  constructor(nc: NatsConnection, options: LoadOptions) {
    this.#nc = nc;
    this.#options = options;
    this.#inboxPrefix = `_INBOX.faults_${options.runId}`;
  }

  start(): void {
    void (async () => {
      for await (const status of this.#nc.status()) {
        if (status.type === "disconnect") this.outages.push({ from: Date.now() });
        const last = this.outages.at(-1);
        if (status.type !== "reconnect") continue;
        if (last && last.to === undefined) last.to = Date.now();
        this.#resendUnanswered();
      }
    })();
    this.#subscriptions.push(
      this.#nc.subscribe(`${this.#inboxPrefix}.>`, {
        callback: (_error, msg) => {
          const [index, publish] = msg.subject
            .slice(this.#inboxPrefix.length + 1)
            .split(".")
            .map(Number);
          const record = this.requests[index ?? -1];
          const target = record?.publishes[publish ?? -1];
          if (!record || !target) return;
          if (msg.headers?.hasError && msg.headers.code === 503 && msg.data.length === 0) {
            target.refusedAt = Date.now();
            this.#resendLater(index!, record, REFUSED_RETRY_MS);
          } else {
            const reply = parseReply(msg.string());
            if (reply.status === "unparsable") {
              const h = msg.headers;
              reply.raw = {
                ...(h ? { code: h.code, description: h.description } : {}),
                ...(h ? { headers: Object.fromEntries(h.keys().map((key) => [key, h.get(key)])) } : {}),
                body: msg.string().slice(0, 200),
              };
            }
            target.replies.push(reply);
          }
        },
      }),
      this.#nc.subscribe(EVENTS_WILDCARD, {
        callback: (_error, msg) => {
          let event: { type?: string; requestId?: string; callId?: string; at?: number };
          try {
            event = msg.json();
          } catch {
            return;
          }
          const record = event.requestId === undefined ? undefined : this.#byId.get(event.requestId);
          if (!record) return;
          if (event.type === EventType.requestAccepted) record.acceptedAt ??= Date.now();
          if (event.type?.startsWith("request.")) (record.lifecycle ??= []).push({ type: event.type, at: Date.now() });
          const call = `${record.id} ${event.callId}`;
          if (event.type === EventType.speculationStarted) this.speculativeCalls.add(call);
          if (event.type === EventType.toolStarted && typeof event.at === "number")
            this.toolStarts.set(call, [...(this.toolStarts.get(call) ?? []), event.at]);
        },
      }),
    );
  }

  /** Requests with no reply yet on any of their publishes. */
  unanswered(): RequestRecord[] {
    return this.requests.filter((r) => !answered(r));
  }

  submit(phase: Phase): RequestRecord {
    const index = this.requests.length;
    const record: RequestRecord = {
      id: `fault-${this.#options.runId}-${index}`,
      seed: seedName(index, this.#options.runId),
      phase,
      publishes: [],
    };
    this.requests.push(record);
    this.#byId.set(record.id, record);
    this.#publish(index, record);
    return record;
  }

  /**
   * A reply sent while the connection was down is lost, and nothing says so: what @toolformer/client
   * does, send every request still waiting again (docs/protocol.md: a known id is answered, not run again).
   */
  #resendUnanswered(): void {
    if (this.#stopped) return;
    this.requests.forEach((record, index) => {
      if (record.publishes.length > 0 && !answered(record)) this.#publish(index, record, true);
    });
  }

  #publish(index: number, record: RequestRecord, onReconnect = false): void {
    const body = JSON.stringify({
      id: record.id,
      prompt: promptOf(record.seed),
      model: FAULT_MODEL,
      tools: [WORK_TOOL, COMBINE_TOOL],
      options: { timeoutMs: this.#options.requestTimeoutMs, speculation: index % this.#options.speculateEvery === 0 },
    });
    const publish = record.publishes.length;
    record.publishes.push({ at: Date.now(), replies: [], ...(onReconnect ? { onReconnect: true as const } : {}) });
    this.#nc.publish(PUBLIC_SUBJECTS.request, body, { reply: `${this.#inboxPrefix}.${index}.${publish}` });
    this.#resendLater(index, record, this.#options.acceptWaitMs);
  }

  /** Sends the request again after `delayMs` unless it was accepted, answered or sent again meanwhile. */
  #resendLater(index: number, record: RequestRecord, delayMs: number): void {
    const publishes = record.publishes.length;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      const waiting = record.acceptedAt === undefined && !answered(record) && record.publishes.length === publishes;
      if (waiting && publishes <= this.#options.maxResends) this.#publish(index, record);
    }, delayMs);
    this.#timers.add(timer);
  }

  /** Waits until every request is answered or `giveUpAt`, then listens `graceMs` more for duplicates. */
  async settle(giveUpAt: number, graceMs: number): Promise<void> {
    while (this.unanswered().length > 0 && Date.now() < giveUpAt) await sleep(200);
    await sleep(graceMs);
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
  }
}

export function answered(record: RequestRecord): boolean {
  return record.publishes.some((p) => p.replies.length > 0);
}

interface ReplyBody {
  status?: unknown;
  answer?: unknown;
  error?: Reply["error"];
  toolCalls?: { id: string; tool: string; status: string; error?: { code?: string; message?: string } }[];
}

function parseReply(text: string): Reply {
  const at = Date.now();
  let body: ReplyBody;
  try {
    body = JSON.parse(text) as ReplyBody;
  } catch {
    return { at, status: "unparsable" };
  }
  const unsucceeded = (body.toolCalls ?? [])
    .filter((call) => call.status !== "succeeded")
    .map((call) => ({
      id: call.id,
      tool: call.tool,
      status: call.status,
      ...(call.error?.code ? { code: call.error.code } : {}),
      ...(call.error?.message ? { message: call.error.message.slice(0, 200) } : {}),
    }));
  return {
    at,
    status: String(body.status),
    ...(typeof body.answer === "string" ? { answer: body.answer } : {}),
    ...(body.error ? { error: body.error } : {}),
    ...(unsucceeded.length > 0 ? { unsucceeded } : {}),
  };
}
