import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ToolformerClient } from "@toolformer/client";
import {
  ContentType,
  decode,
  OrchestrateEventSchema,
  PUBLIC_SUBJECTS,
  RequestIdSchema,
  STREAMS,
  TENANT_PATTERN,
  tenantOfRequestId,
} from "@toolformer/protocol";
import { approveFromPage } from "./approve-endpoint.ts";
import { readCluster } from "./cluster-status.ts";
import { ScopeHistory } from "./cluster-view.ts";
import { RequestViews } from "./request-views.ts";

export interface DashboardOptions {
  /**
   * A connection with the viewer role's rights (ADR 0023): the events stream, the tools and rate-limit
   * buckets, the service API, consumer info, and cancel.
   */
  nc: NatsConnection;
  /**
   * A second connection, with a role allowed to approve (the client role, ADR 0024), for the approve
   * and deny buttons: the viewer may not approve, and is not widened to (ADR 0028). Without it the page
   * shows the calls that wait for approval but offers no decision.
   */
  approver?: NatsConnection;
  /** 0: any free port. */
  port?: number;
  /** Where to listen; loopback unless told otherwise (the page can cancel requests). */
  host?: string;
  /** How far back the events are read at start. */
  lookbackMs?: number;
  /** How often the cluster (copies, tools, lag, scopes) is read while a page is open. */
  clusterEveryMs?: number;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

const DEFAULT_LOOKBACK_MS = 15 * 60_000;
/** Changed requests are sent to the pages together, at most this often. */
const PUSH_EVERY_MS = 150;
const DEFAULT_CLUSTER_EVERY_MS = 2_000;
const PAGE_DIR = join(import.meta.dirname, "page");
const PAGE_FILES: Record<string, string> = {
  "/": "index.html",
  "/app.js": "app.js",
  "/style.css": "style.css",
};
const TYPES: Record<string, string> = { html: "text/html", js: "text/javascript", css: "text/css" };

/**
 * Serves the dashboard: the page, a server-sent-events stream of request views built from the public
 * events (replayed from `lookbackMs` ago, then live) and of the cluster (read every `clusterEveryMs`
 * while a page is open, each scope's use kept over time), cancel, and approve or deny with `approver`. It
 * reads NATS only, so it works against any deployment.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const client = new ToolformerClient(options.nc);
  const approver = options.approver ? new ToolformerClient(options.approver) : undefined;
  /** What the page may offer, sent first on every stream. */
  const settings = `event: settings\ndata: ${JSON.stringify({ approvals: approver !== undefined })}\n\n`;
  const views = new RequestViews();
  const pages = new Set<ServerResponse>();
  const changed = new Set<string>();

  const consumer = await jetstream(options.nc).consumers.get(STREAMS.events.name, {
    // One subject as a string: nats.js sends it as `filter_subject`, which nats-server 2.9 knows.
    filter_subjects: `${PUBLIC_SUBJECTS.eventsPrefix}.>`,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(Date.now() - (options.lookbackMs ?? DEFAULT_LOOKBACK_MS)).toISOString(),
  });
  const messages = await consumer.consume();
  const reading = (async () => {
    for await (const msg of messages) {
      const parsed = OrchestrateEventSchema.safeParse(decode(msg.data, ContentType.json));
      if (!parsed.success) continue; // an event type this dashboard does not know
      views.apply(parsed.data);
      changed.add(parsed.data.requestId);
    }
  })();
  const history = new ScopeHistory();
  let lastCluster = "";
  let readingCluster = false;
  const sendCluster = async () => {
    if (pages.size === 0 || readingCluster) return;
    readingCluster = true;
    try {
      const view = await readCluster(options.nc);
      history.record(view);
      lastCluster = `event: cluster\ndata: ${JSON.stringify({ ...view, history })}\n\n`;
      for (const page of pages) page.write(lastCluster);
    } catch {
      // The connection is closing or a read failed: the next round tries again.
    } finally {
      readingCluster = false;
    }
  };
  const clustering = setInterval(() => void sendCluster(), options.clusterEveryMs ?? DEFAULT_CLUSTER_EVERY_MS);

  const pushing = setInterval(() => {
    if (changed.size === 0) return;
    const updates = [...changed].flatMap((id) => views.get(id) ?? []);
    changed.clear();
    const frame = `event: requests\ndata: ${JSON.stringify(updates)}\n\n`;
    for (const page of pages) page.write(frame);
  }, PUSH_EVERY_MS);

  const stream = (res: ServerResponse) => {
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store", Connection: "keep-alive" });
    res.write(settings);
    res.write(`event: requests\ndata: ${JSON.stringify(views.list())}\n\n`);
    if (lastCluster) res.write(lastCluster);
    pages.add(res);
    res.on("close", () => pages.delete(res));
    if (!lastCluster) void sendCluster();
  };

  const cancel = async (requestId: string, res: ServerResponse) => {
    await client.cancel(requestId);
    res.writeHead(202).end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://dashboard").pathname;
    const file = PAGE_FILES[path];
    if (req.method === "GET" && file) {
      const type = TYPES[file.split(".").at(-1)!]!;
      return void res
        .writeHead(200, { "Content-Type": `${type}; charset=utf-8` })
        .end(await readFile(join(PAGE_DIR, file)));
    }
    if (req.method === "GET" && path === "/api/stream") return stream(res);
    if (req.method === "GET" && path === "/api/cluster")
      return void res
        .writeHead(200, { "Content-Type": "application/json" })
        .end(JSON.stringify(await readCluster(options.nc)));
    const action = /^\/api\/requests\/([^/]+)\/(cancel|approve)$/.exec(path);
    if (req.method === "POST" && action) {
      const requestId = decodeURIComponent(action[1]!);
      if (!isRequestId(requestId)) return void res.writeHead(400).end("not a request id");
      return action[2] === "cancel" ? cancel(requestId, res) : approveFromPage(approver, requestId, req, res);
    }
    res.writeHead(404).end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(error));
    });
  });
  const host = options.host ?? "127.0.0.1";
  const listening = new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  try {
    await listening;
  } catch (error) {
    clearInterval(pushing);
    clearInterval(clustering);
    await messages.close();
    await reading;
    throw error;
  }
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;

  return {
    url: `http://${host}:${port}/`,
    async close() {
      clearInterval(pushing);
      clearInterval(clustering);
      for (const page of pages) page.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await messages.close();
      await reading;
    },
  };
}

/** A client's request id, or a tenant's as the orchestrator's account sees it (`@<tenant>.<id>`). */
function isRequestId(requestId: string): boolean {
  const tenant = tenantOfRequestId(requestId);
  if (tenant === undefined) return RequestIdSchema.safeParse(requestId).success;
  return TENANT_PATTERN.test(tenant) && RequestIdSchema.safeParse(requestId.slice(tenant.length + 2)).success;
}
