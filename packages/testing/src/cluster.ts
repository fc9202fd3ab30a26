import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { randomBytes } from "node:crypto";
import { ensureRoleCredentials } from "@toolformer/runtime";
import { freeStablePort } from "./ports.ts";
import { spawnServer, stopProcess, type ServerProcess } from "./processes.ts";
import { provisionAsAdmin, roleAccess, type RoleAccess } from "./role-access.ts";

const CLUSTER_READY_TIMEOUT_MS = 30_000;

export interface ClusterNode {
  url: string;
  port: number;
  readonly pid: number | undefined;
}

/**
 * A JetStream cluster of nats-server processes on loopback, each with its own store, auth on (every
 * role its own nkey, as on one node), streams and buckets provisioned with a replica per node.
 */
export interface NatsCluster extends RoleAccess, AsyncDisposable {
  nodes: ClusterNode[];
  urls: string[];
  /** All client URLs, comma-separated, as `connect({ servers })` and NATS_URL take them. */
  url: string;
  stop(): Promise<void>;
  /** Stops node `index` and starts it again on the same ports and store; waits until R3 works again. */
  restartNode(index: number): Promise<void>;
  /** Kills node `index` at once (SIGKILL: no goodbye to its peers or clients) and waits until it is gone. */
  killNode(index: number): Promise<void>;
  /** Starts a killed or stopped node again on the same ports and store; waits until R3 works again. */
  startNode(index: number): Promise<void>;
  /**
   * Waits until every stream the admin sees, and every consumer of each, has a leader again. R3 working
   * again says nothing of the streams that were there: after the cluster lost its quorum, nats-server
   * 2.9 took 5-19 s to elect them again once both nodes were back, the rounds stream once 18 s (its
   * three replicas each one entry behind, electing again and again).
   */
  untilEveryStreamLeads(timeoutMs: number): Promise<void>;
  /**
   * One line per consumer that holds messages (pending or unacked) or waiting pulls, with its leader:
   * for a test's failure message, to tell a backlog nobody pulls (no waiting pull at the leader: the
   * pulls do not reach it) from one the leader does not deliver (pulls wait, messages pend).
   */
  describeBacklogs(): Promise<string>;
}

/** The index of the node that leads `stream` now (nodes are named `<cluster>_n<index>`), -1 if none does. */
export async function streamLeaderNode(jsm: JetStreamManager, cluster: NatsCluster, stream: string): Promise<number> {
  const leader = (await jsm.streams.info(stream)).cluster?.leader ?? "";
  return cluster.nodes.findIndex((_, i) => leader.endsWith(`_n${i}`));
}

/**
 * Start again, on new ports and stores, when ports picked free were taken before a node bound them
 * (tests run in parallel), or when a new cluster never became able to place a replicated stream (seen
 * once on 2.10.27 in the servers' suite, its other test files running beside it: a meta leader known to
 * every node, yet "no suitable peers for placement" for 30 s; 25 starts in a row alone formed in
 * 1.5-4.6 s).
 */
const START_ATTEMPTS = 3;
const RETRIED_START_FAILURES = /address already in use|cluster not ready/;
/**
 * How long a new cluster may take to form before it is started again; a restarted node waits longer.
 * Three attempts must fit in the test files' 60 s hooks: once more on 2.10.27 in the servers' suite a
 * `beforeAll` ran out of its 60 s while attempts of 20 s each failed.
 */
const FORMATION_TIMEOUT_MS = 15_000;

export async function startNatsCluster(
  options: { size?: number; tenants?: readonly string[] } = {},
): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(options.size ?? 3, options.tenants ?? []);
    } catch (error) {
      if (attempt >= START_ATTEMPTS || !RETRIED_START_FAILURES.test(String(error))) throw error;
      // Why a start was given up, for the log of a run whose hook times out before the last attempt ends:
      // the reason, and the end of the nodes' logs (their start is a banner).
      const why = String(error);
      console.warn(
        `NATS cluster start ${attempt} of ${START_ATTEMPTS} failed: ${why.slice(0, 300)} … ${why.slice(-3_500)}`,
      );
    }
  }
}

async function startClusterOnce(size: number, tenants: readonly string[]): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), "nats-cluster-"));
  const name = `fixture_${randomBytes(3).toString("hex")}`;
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) {
    // Nodes are killed and started again on their ports: keep those out of reach of other tests.
    clientPorts.push(await freeStablePort());
    routePorts.push(await freeStablePort());
  }
  const credentials = ensureRoleCredentials(join(dir, "credentials"), { tenants });
  const urls = clientPorts.map((port) => `nats://127.0.0.1:${port}`);
  const access = roleAccess(urls.join(","), credentials);
  const configFiles = clientPorts.map((port, i) => {
    const file = join(dir, `n${i}.conf`);
    const routes = routePorts.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`);
    writeFileSync(
      file,
      [
        `server_name: ${name}_n${i}`,
        `listen: "127.0.0.1:${port}"`,
        `jetstream { store_dir: "${join(dir, `store${i}`)}" }`,
        `cluster { name: ${name}, listen: "127.0.0.1:${routePorts[i]}", routes: [${routes.join(", ")}] }`,
        credentials.authorization,
      ].join("\n"),
    );
    return file;
  });
  const servers: ServerProcess[] = configFiles.map((file) => spawnServer(["-c", file]));
  const outputs = () => servers.map((s, i) => `--- node ${i}\n${s.output()}`).join("\n");
  const stop = async () => {
    await Promise.all(servers.map((s) => stopProcess(s.child)));
    rmSync(dir, { recursive: true, force: true });
  };
  const stopNode = async (index: number, signal: NodeJS.Signals) => {
    const server = servers[index];
    if (!server) throw new Error(`no node ${index}`);
    await stopProcess(server.child, signal);
  };
  const startNode = async (index: number) => {
    const server = servers[index];
    const file = configFiles[index];
    if (!server || !file) throw new Error(`no node ${index}`);
    if (server.child.exitCode === null && server.child.signalCode === null) throw new Error(`node ${index} is running`);
    servers[index] = spawnServer(["-c", file]);
    const nodeAccess = roleAccess(urls[index] ?? "", credentials);
    await waitForNode(nodeAccess, urls[index] ?? "", `${name}_n${index}`, () => servers[index]?.output() ?? "");
    await waitForReplicatedStream(access, urls.length, outputs);
  };
  try {
    await waitForReplicatedStream(access, urls.length, outputs, FORMATION_TIMEOUT_MS);
    await provisionAsAdmin(access, size, tenants);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    ...access,
    nodes: clientPorts.map((port, i) => ({
      url: urls[i] ?? "",
      port,
      get pid() {
        return servers[i]?.child.pid;
      },
    })),
    urls,
    url: urls.join(","),
    stop,
    async restartNode(index) {
      await stopNode(index, "SIGTERM");
      await startNode(index);
    },
    killNode: (index) => stopNode(index, "SIGKILL"),
    startNode,
    untilEveryStreamLeads: (timeoutMs) => waitForLeaders(access, timeoutMs),
    describeBacklogs: () => describeBacklogs(access),
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * A restarted node is up when its own URL answers as that node: the cluster being ready says nothing
 * of it (two nodes keep the quorum), and a process that could not bind its port would leave the URL
 * dead, or answered by whatever took the port.
 */
async function waitForNode(access: RoleAccess, url: string, serverName: string, output: () => string): Promise<void> {
  const giveUpAt = Date.now() + CLUSTER_READY_TIMEOUT_MS;
  let seen = "nothing";
  while (Date.now() < giveUpAt) {
    const nc = await access.connect("admin", { timeout: 1_000, reconnect: false }).catch(() => undefined);
    if (nc) {
      seen = nc.info?.server_name ?? "a server without a name";
      await nc.close();
      if (seen === serverName) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`node ${serverName} did not come back at ${url} (it answered as ${seen}):\n${output()}`);
}

/**
 * The cluster is ready when a meta leader exists and an R3 stream can be created: then streams
 * created by the tests get their replicas.
 */
async function waitForReplicatedStream(
  access: RoleAccess,
  replicas: number,
  outputs: () => string,
  timeoutMs = CLUSTER_READY_TIMEOUT_MS,
): Promise<void> {
  const wanting = await untilAdminFinds(access, timeoutMs, async (jsm) => {
    const probe = `ready_${randomBytes(4).toString("hex")}`;
    await jsm.streams.add({ name: probe, subjects: [`${probe}.>`], num_replicas: replicas });
    await jsm.streams.delete(probe);
    return undefined;
  });
  if (wanting !== undefined) throw new Error(`cluster not ready after ${timeoutMs} ms (${wanting}):\n${outputs()}`);
}

/** See `NatsCluster.untilEveryStreamLeads`; the error names what is still without a leader. */
async function waitForLeaders(access: RoleAccess, timeoutMs: number): Promise<void> {
  const wanting = await untilAdminFinds(access, timeoutMs, async (jsm) => {
    const leaderless: string[] = [];
    for await (const stream of jsm.streams.list()) {
      if (!stream.cluster?.leader) leaderless.push(stream.config.name);
      else
        for await (const consumer of jsm.consumers.list(stream.config.name))
          if (!consumer.cluster?.leader) leaderless.push(`${stream.config.name} ${consumer.name}`);
    }
    return leaderless.length === 0 ? undefined : leaderless.join(", ");
  });
  if (wanting !== undefined) throw new Error(`still without a leader after ${timeoutMs} ms: ${wanting}`);
}

/** See `NatsCluster.describeBacklogs`; what the look met instead when it could not finish in 10 s. */
async function describeBacklogs(access: RoleAccess): Promise<string> {
  let lines: string[] = [];
  const wanting = await untilAdminFinds(access, 10_000, async (jsm) => {
    // A look cut short by a lost connection starts over: only a whole listing is kept.
    const found: string[] = [];
    for await (const stream of jsm.streams.list())
      for await (const c of jsm.consumers.list(stream.config.name)) {
        if (c.num_pending + c.num_ack_pending + c.num_waiting === 0) continue;
        found.push(
          `${stream.config.name}/${c.name} (leader ${c.cluster?.leader ?? "none"}): ${c.num_pending} pending, ` +
            `${c.num_ack_pending} unacked, ${c.num_waiting} pulls waiting, delivered up to ${c.delivered.stream_seq}, ` +
            `acked up to ${c.ack_floor.stream_seq}`,
        );
      }
    lines = found;
    return undefined;
  });
  if (wanting !== undefined) return `could not list the consumers: ${wanting}`;
  return lines.length === 0 ? "no consumer holds messages or waiting pulls" : lines.join("\n");
}

/**
 * Looks at the cluster as the admin, on a new connection each time (the node it reaches may be down),
 * until `look` finds nothing wanting (undefined); after `timeoutMs`, what the last look found wanting,
 * or the error it met.
 */
async function untilAdminFinds(
  access: RoleAccess,
  timeoutMs: number,
  look: (jsm: JetStreamManager) => Promise<string | undefined>,
): Promise<string | undefined> {
  const giveUpAt = Date.now() + timeoutMs;
  let wanting = "no look finished";
  while (Date.now() < giveUpAt) {
    try {
      const nc = await access.connect("admin", { timeout: 1_000, reconnect: false });
      try {
        const found = await look(await jetstreamManager(nc, { timeout: 2_000 }));
        if (found === undefined) return undefined;
        wanting = found;
      } finally {
        await nc.close();
      }
    } catch (error) {
      wanting = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return wanting;
}
