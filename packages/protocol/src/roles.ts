/**
 * Who may do what on the bus. Every connection authenticates as one role; the server enforces the
 * role's permissions (docs/security.md). Built from the same names as the wire (subjects.ts), so a new
 * subject, stream or bucket is granted here or to nobody.
 */
import {
  APPROVE_WILDCARD,
  CANCEL_WILDCARD,
  CALL_CANCEL_WILDCARD,
  CONSUMERS,
  EVENTS_WILDCARD,
  INBOX_PREFIX,
  INTERNAL_SUBJECTS,
  KV_BUCKETS,
  kvStreamName,
  maxDeliveriesAdvisory,
  OBJECT_STORES,
  PUBLIC_SUBJECTS,
  REPLAY_WILDCARD,
  SERVICE_NAMES,
  SERVICE_REPLY_PREFIX,
  STREAMS,
  TENANT_JETSTREAM_API_WILDCARD,
  TENANT_SUBJECTS,
} from "./subjects.ts";

export const ROLES = {
  dispatcher: "dispatcher",
  scheduler: "scheduler",
  rateLimiter: "rate-limiter",
  speculation: "speculation",
  executor: "executor",
  /**
   * Sends requests, reads their events and large results, cancels them, approves or denies their waiting
   * calls, replays finished ones.
   */
  client: "client",
  /** Serves remote tools as NATS micro services. */
  toolProvider: "tool-provider",
  /** Creates and changes streams and buckets (`toolformer provision`); never used by a running actor. */
  admin: "admin",
  /**
   * Watches the whole orchestrator (the dashboard, `toolformer status`): reads the events, the tools and
   * rate-limit buckets, the service API and the consumers' lag; its only write is a cancel (ADR 0023).
   */
  viewer: "viewer",
} as const;
export type Role = (typeof ROLES)[keyof typeof ROLES];
export const ALL_ROLES: readonly Role[] = Object.values(ROLES);

/** One direction of a nats-server permission: `deny` wins over `allow`. */
export type SubjectPermission = {
  allow: string[];
  deny: string[];
};
export type RolePermissions = {
  publish: SubjectPermission;
  subscribe: SubjectPermission;
};

type StreamKey = keyof typeof STREAMS;
type BucketKey = keyof typeof KV_BUCKETS;
type ObjectStoreKey = keyof typeof OBJECT_STORES;

/** What a role is granted, in the project's own terms; `rolePermissions` turns it into subjects. */
interface Grants {
  /** Streams it reads: consumers (its durables included), message gets, acks. */
  readStreams: StreamKey[];
  /** Streams it only writes to: it may check they exist (`STREAM.INFO`), not read them. */
  writeStreams: StreamKey[];
  buckets: { read: BucketKey[]; write: BucketKey[] };
  objectStores: { read: ObjectStoreKey[]; write: ObjectStoreKey[] };
  publish: string[];
  subscribe: string[];
  /** The NATS service API name it answers under (`$SRV.PING/INFO/STATS`). */
  service?: string;
}

const kvStream = (bucket: BucketKey) => kvStreamName(KV_BUCKETS[bucket]);
const objectStream = (store: ObjectStoreKey) => `OBJ_${OBJECT_STORES[store]}`;

/** Reading a stream: its info, consumers on it (created, looked up, deleted), their messages and acks. */
function streamReadSubjects(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.ACK.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/** What every actor does besides its own part: replies to inboxes, hears its replies and the cancels. */
const ACTOR_BASE = {
  publish: [`${INBOX_PREFIX}.>`],
  subscribe: [`${INBOX_PREFIX}.>`, CANCEL_WILDCARD, CALL_CANCEL_WILDCARD],
};

const RATE_LIMIT_CALLER = [
  INTERNAL_SUBJECTS.rateLimitAcquire,
  INTERNAL_SUBJECTS.rateLimitLineWildcard,
  INTERNAL_SUBJECTS.rateLimitFeedback,
  INTERNAL_SUBJECTS.rateLimitPromote,
];

const ACTOR_GRANTS: Record<Exclude<Role, "client" | "tool-provider" | "admin" | "viewer">, Grants> = {
  dispatcher: {
    readStreams: ["requests", "rounds", "events", "speculation"],
    writeStreams: [],
    buckets: { read: ["tools", "rateLimits"], write: ["requests", "speculationCalls", "approvals"] },
    objectStores: { read: ["results"], write: [] },
    publish: [
      ...ACTOR_BASE.publish,
      EVENTS_WILDCARD,
      INTERNAL_SUBJECTS.requestRunWildcard,
      INTERNAL_SUBJECTS.roundSubmitWildcard,
      INTERNAL_SUBJECTS.roundAddWildcard,
      INTERNAL_SUBJECTS.roundTurnWildcard,
      INTERNAL_SUBJECTS.speculationLearnWildcard,
      INTERNAL_SUBJECTS.speculationPredict,
      CANCEL_WILDCARD,
      CALL_CANCEL_WILDCARD,
      ...RATE_LIMIT_CALLER,
      // A stopping front door hands the publishes it still works on to the other front doors.
      PUBLIC_SUBJECTS.request,
      TENANT_SUBJECTS.requestWildcard,
      // Replies to tenant accounts' requests, which the server maps back to the requester's inbox.
      `${SERVICE_REPLY_PREFIX}.>`,
    ],
    subscribe: [
      ...ACTOR_BASE.subscribe,
      PUBLIC_SUBJECTS.request,
      TENANT_SUBJECTS.requestWildcard,
      PUBLIC_SUBJECTS.tools,
      APPROVE_WILDCARD,
      REPLAY_WILDCARD,
      INTERNAL_SUBJECTS.rateLimitPresence,
      // A round's record, heard live as well as read from its stream.
      INTERNAL_SUBJECTS.roundDoneWildcard,
    ],
    service: SERVICE_NAMES.dispatcher,
  },
  scheduler: {
    readStreams: ["rounds", "exec", "results", "events"],
    writeStreams: [],
    buckets: { read: [], write: ["speculationCalls", "approvals"] },
    objectStores: { read: ["results"], write: ["results"] },
    publish: [
      ...ACTOR_BASE.publish,
      EVENTS_WILDCARD,
      INTERNAL_SUBJECTS.roundDoneWildcard,
      // Rounds it cannot finish are handed back by copy (ADR 0012).
      INTERNAL_SUBJECTS.roundSubmitWildcard,
      INTERNAL_SUBJECTS.execWildcard,
      INTERNAL_SUBJECTS.resultsWildcard,
      CALL_CANCEL_WILDCARD,
      ...RATE_LIMIT_CALLER,
    ],
    subscribe: [
      ...ACTOR_BASE.subscribe,
      INTERNAL_SUBJECTS.rateLimitPresence,
      // Calls' results, heard live as well as read from their stream.
      INTERNAL_SUBJECTS.resultsWildcard,
      // Calls added to an open round: their live copies say when to read them from the stream.
      INTERNAL_SUBJECTS.roundAddWildcard,
    ],
    service: SERVICE_NAMES.scheduler,
  },
  "rate-limiter": {
    readStreams: [],
    writeStreams: [],
    buckets: { read: [], write: ["rateLimits"] },
    objectStores: { read: [], write: [] },
    publish: [...ACTOR_BASE.publish, INTERNAL_SUBJECTS.rateLimitPresence],
    subscribe: [...ACTOR_BASE.subscribe, INTERNAL_SUBJECTS.rateLimitWildcard],
    service: SERVICE_NAMES.rateLimiter,
  },
  speculation: {
    readStreams: ["events", "exec", "speculation", "results"],
    writeStreams: [],
    buckets: { read: [], write: ["speculationHistory", "speculationCalls"] },
    objectStores: { read: [], write: [] },
    publish: [
      ...ACTOR_BASE.publish,
      EVENTS_WILDCARD,
      INTERNAL_SUBJECTS.speculationLearnWildcard,
      INTERNAL_SUBJECTS.execWildcard,
      CALL_CANCEL_WILDCARD,
      ...RATE_LIMIT_CALLER,
    ],
    subscribe: [...ACTOR_BASE.subscribe, INTERNAL_SUBJECTS.speculationPredict, INTERNAL_SUBJECTS.rateLimitPresence],
    service: SERVICE_NAMES.speculation,
  },
  executor: {
    // Results: whether a call it is given again already has one (it runs no call twice).
    readStreams: ["exec", "results"],
    writeStreams: ["events"],
    buckets: { read: ["rateLimits"], write: ["tools", "resultCache", "callClaims"] },
    objectStores: { read: [], write: ["results"] },
    publish: [
      ...ACTOR_BASE.publish,
      EVENTS_WILDCARD,
      INTERNAL_SUBJECTS.resultsWildcard,
      // Calls it cannot finish are handed back by copy (ADR 0012).
      INTERNAL_SUBJECTS.execWildcard,
      ...RATE_LIMIT_CALLER,
      // Remote tools: discovery, and the calls themselves (below: on whatever subject a service chose).
      "$SRV.INFO",
      "$SRV.INFO.>",
    ],
    subscribe: [...ACTOR_BASE.subscribe, INTERNAL_SUBJECTS.rateLimitPresence, maxDeliveriesAdvisory(STREAMS.exec.name)],
    service: SERVICE_NAMES.executor,
  },
};

/**
 * Subjects no one but the admin and the owners granted above may touch, even a role that publishes or
 * subscribes widely (an executor calls remote tools on any subject a service picked; a tool provider
 * serves on any): the internal namespace, the public edge's service subjects, and JetStream's APIs.
 */
const RESERVED_SUBJECTS = [
  INTERNAL_SUBJECTS.wildcard,
  PUBLIC_SUBJECTS.request,
  TENANT_SUBJECTS.wildcard,
  // Replies to tenant accounts travel here: whoever listens would read them.
  `${SERVICE_REPLY_PREFIX}.>`,
  PUBLIC_SUBJECTS.tools,
  EVENTS_WILDCARD,
  "$JS.>",
  "$KV.>",
  "$O.>",
  "$SYS.>",
];

function actorPermissions(grants: Grants): RolePermissions {
  const streams = [
    ...grants.readStreams.map((key) => STREAMS[key].name),
    ...[...grants.buckets.read, ...grants.buckets.write].map(kvStream),
    ...[...grants.objectStores.read, ...grants.objectStores.write].map(objectStream),
  ];
  const writes = [
    ...grants.buckets.write.map((bucket) => `$KV.${KV_BUCKETS[bucket]}.>`),
    ...grants.objectStores.write.flatMap((store) => [
      `$O.${OBJECT_STORES[store]}.>`,
      // Deleting an object purges its chunks.
      `$JS.API.STREAM.PURGE.${objectStream(store)}`,
    ]),
  ];
  const service = grants.service ? [`$SRV.*`, `$SRV.*.${grants.service}`, `$SRV.*.${grants.service}.>`] : [];
  const existence = grants.writeStreams.map((key) => `$JS.API.STREAM.INFO.${STREAMS[key].name}`);
  return {
    publish: {
      allow: unique([
        "$JS.API.INFO",
        ...grants.publish,
        ...[...new Set(streams)].flatMap(streamReadSubjects),
        ...existence,
        ...writes,
      ]),
      deny: [],
    },
    subscribe: { allow: unique([...grants.subscribe, ...service]), deny: [] },
  };
}

/** The permissions nats-server enforces for a role. */
export function rolePermissions(role: Role): RolePermissions {
  switch (role) {
    case "admin":
      return { publish: { allow: [">"], deny: [] }, subscribe: { allow: [">"], deny: [] } };
    case "client":
      return {
        publish: {
          allow: [
            PUBLIC_SUBJECTS.request,
            PUBLIC_SUBJECTS.tools,
            CANCEL_WILDCARD,
            APPROVE_WILDCARD,
            REPLAY_WILDCARD,
            "$JS.API.INFO",
            // Its requests' events (an ephemeral consumer per request) and large results by reference.
            ...streamReadSubjects(STREAMS.events.name).filter((s) => !s.includes("DURABLE")),
            ...streamReadSubjects(objectStream("results")).filter((s) => !s.includes("DURABLE")),
          ],
          deny: [],
        },
        subscribe: { allow: [`${INBOX_PREFIX}.>`], deny: [] },
      };
    case "viewer":
      return viewerPermissions();
    case "tool-provider":
      return {
        // Answers calls (to the caller's inbox) and nothing inside the orchestrator.
        publish: { allow: [`${INBOX_PREFIX}.>`, "$SRV.>"], deny: [] },
        subscribe: {
          allow: [">"],
          deny: RESERVED_SUBJECTS.filter((s) => s !== "$SRV.>").concat(
            CANCEL_WILDCARD,
            APPROVE_WILDCARD,
            REPLAY_WILDCARD,
          ),
        },
      };
    case "executor": {
      const permissions = actorPermissions(ACTOR_GRANTS.executor);
      const own = new Set(permissions.publish.allow);
      return {
        // Anything a remote tool's service chose, but nothing reserved that it was not granted above.
        publish: { allow: [...permissions.publish.allow, ">"], deny: reservedExcept(own) },
        subscribe: permissions.subscribe,
      };
    }
    default:
      return actorPermissions(ACTOR_GRANTS[role]);
  }
}

/**
 * Reading a stream and nothing more: its info, message gets, and consumers it makes to read (ephemeral,
 * its own name); not `DURABLE.CREATE` nor `CONSUMER.DELETE`, so it cannot remove an actor's durable
 * (the viewer's deny list keeps it from updating one by name). (A reader's own consumers expire on the server when it goes: nats.js's delete on close is
 * refused and ignored.)
 */
function streamViewSubjects(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/** A stream's consumers, to read how far behind each is (lag): their names and info, nothing else. */
function consumerLagSubjects(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.CONSUMER.LIST.${stream}`,
    `$JS.API.CONSUMER.NAMES.${stream}`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
  ];
}

/** The service API's discovery (`$SRV.PING/INFO/STATS`, all services or one): asked, never served. */
const SERVICE_DISCOVERY = ["PING", "INFO", "STATS"].flatMap((verb) => [`$SRV.${verb}`, `$SRV.${verb}.>`]);

/**
 * The viewer: everything the dashboard and `toolformer status` read, and cancel. No request, no
 * `orchestrate.tools` (the tools are read from their bucket), no KV or stream write, no service.
 */
function viewerPermissions(): RolePermissions {
  const viewed = [STREAMS.events.name, kvStream("tools"), kvStream("rateLimits")];
  // A named create of an existing durable updates it (nats-server 2.9 and later): not the actors' names.
  const durables = Object.values(CONSUMERS).filter((name) => typeof name === "string");
  return {
    publish: {
      allow: unique([
        CANCEL_WILDCARD,
        "$JS.API.INFO",
        ...viewed.flatMap(streamViewSubjects),
        ...Object.values(STREAMS).flatMap((stream) => consumerLagSubjects(stream.name)),
        ...SERVICE_DISCOVERY,
      ]),
      deny: viewed.flatMap((stream) =>
        durables.flatMap((name) => [
          `$JS.API.CONSUMER.CREATE.${stream}.${name}`,
          `$JS.API.CONSUMER.CREATE.${stream}.${name}.>`,
        ]),
      ),
    },
    subscribe: { allow: [`${INBOX_PREFIX}.>`], deny: [] },
  };
}

/** The reserved namespaces, as deny rules that leave the role's own grants open. */
function reservedExcept(own: Set<string>): string[] {
  const streams = [
    ...Object.values(STREAMS).map((stream) => stream.name),
    ...(Object.keys(KV_BUCKETS) as BucketKey[]).map(kvStream),
    ...(Object.keys(OBJECT_STORES) as ObjectStoreKey[]).map(objectStream),
  ];
  const reserved = [
    ...Object.values(STREAMS).flatMap((stream) => stream.subjects),
    INTERNAL_SUBJECTS.rateLimitPresence,
    INTERNAL_SUBJECTS.speculationPredict,
    PUBLIC_SUBJECTS.request,
    TENANT_SUBJECTS.wildcard,
    PUBLIC_SUBJECTS.tools,
    CANCEL_WILDCARD,
    APPROVE_WILDCARD,
    REPLAY_WILDCARD,
    // Replies to tenants' requests are the dispatcher's; tenants' JetStream is the admin's.
    `${SERVICE_REPLY_PREFIX}.>`,
    TENANT_JETSTREAM_API_WILDCARD,
    ...Object.values(KV_BUCKETS).map((bucket) => `$KV.${bucket}.>`),
    ...Object.values(OBJECT_STORES).map((store) => `$O.${store}.>`),
    ...streams.flatMap((stream) => [...streamReadSubjects(stream), `$JS.API.STREAM.PURGE.${stream}`]),
    "$JS.API.STREAM.CREATE.>",
    "$JS.API.STREAM.UPDATE.>",
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
    "$JS.API.STREAM.SNAPSHOT.>",
    "$JS.API.STREAM.RESTORE.>",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.NAMES",
    "$JS.API.ACCOUNT.>",
    "$JS.API.META.>",
    "$SYS.>",
  ];
  return unique(reserved.filter((subject) => !own.has(subject)));
}

function unique(subjects: string[]): string[] {
  return [...new Set(subjects)];
}
