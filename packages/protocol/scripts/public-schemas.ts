/**
 * The published contract as documents: a JSON Schema per public message and an AsyncAPI 3.0 document
 * of the public subjects, both generated from the zod schemas and the subject names in `src/`.
 */
import { z } from "zod";
import {
  ApproveMessageSchema,
  ApproveReplySchema,
  CallCancelSchema,
  CancelReason,
  Header,
  OrchestrateEventSchema,
  OrchestrateReplySchema,
  OrchestrateRequestSchema,
  PUBLIC_SUBJECTS,
  RaceGroupsSchema,
  REMOTE_TOOL_METADATA,
  RemoteToolMetadataSchema,
  ReplayMessageSchema,
  ReplayReplySchema,
  RequestIdSchema,
  ToolsReplySchema,
} from "../src/index.ts";

type JsonSchema = Record<string, unknown>;
type Target = "draft-2020-12" | "draft-7";

/**
 * Request ids become subject tokens: besides `[A-Za-z0-9_.-]{1,128}`, no empty dot-separated segment
 * (`RequestIdSchema`'s refinement, said as a pattern).
 */
const SUBJECT_SAFE_REQUEST_ID = "^(?!\\.)(?!.*\\.\\.)(?!.*\\.$)[A-Za-z0-9_.-]{1,128}$";
const MAX_RACE_GROUPS = 64;

/** Refinements zod checks in code, which `z.toJSONSchema` drops, said in JSON Schema where it can. */
function keepRefinements(ctx: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  if (ctx.zodSchema === RequestIdSchema) ctx.jsonSchema.pattern = SUBJECT_SAFE_REQUEST_ID;
  if (ctx.zodSchema === RaceGroupsSchema) ctx.jsonSchema.maxProperties = MAX_RACE_GROUPS;
  // Exactly one of the two: with both, both branches match and `oneOf` fails.
  if (ctx.zodSchema === OrchestrateRequestSchema)
    ctx.jsonSchema.oneOf = [{ required: ["prompt"] }, { required: ["messages"] }];
}

function jsonSchemaOf(schema: z.ZodType, io: "input" | "output", target: Target): JsonSchema {
  return z.toJSONSchema(schema, { io, target, unrepresentable: "any", override: keepRefinements }) as JsonSchema;
}

/** The public messages: what a client sends is checked as input (defaults optional), the rest as output. */
const MESSAGES = {
  "orchestrate.request": [OrchestrateRequestSchema, "input"],
  "orchestrate.reply": [OrchestrateReplySchema, "output"],
  "orchestrate.event": [OrchestrateEventSchema, "output"],
  "orchestrate.tools.reply": [ToolsReplySchema, "output"],
  "orchestrate.approve": [ApproveMessageSchema, "input"],
  "orchestrate.approve.reply": [ApproveReplySchema, "output"],
  "orchestrate.replay": [ReplayMessageSchema, "input"],
  "orchestrate.replay.reply": [ReplayReplySchema, "output"],
} as const;

/** `docs/schemas/<message>.schema.json` (JSON Schema 2020-12), by file name. */
export function jsonSchemaDocuments(): Record<string, JsonSchema> {
  return Object.fromEntries(
    Object.entries(MESSAGES).map(([name, [schema, io]]) => [
      `${name}.schema.json`,
      { $id: `${name}.schema.json`, title: name, ...jsonSchemaOf(schema, io, "draft-2020-12") },
    ]),
  );
}

/** AsyncAPI's default schema format is a superset of JSON Schema draft 7. */
const payload = (schema: z.ZodType, io: "input" | "output") => {
  const { $schema: _dialect, ...rest } = jsonSchemaOf(schema, io, "draft-7");
  return rest;
};

const header = (description: string, extra: JsonSchema = {}) => ({ type: "string", description, ...extra });

/** `docs/asyncapi.json`: the public subjects, their messages and who sends what. */
export function asyncApiDocument(): JsonSchema {
  const ref = (kind: string, name: string) => ({ $ref: `#/components/${kind}/${name}` });
  const cancelReasons = Object.values(CancelReason);
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Async Toolformer Orchestrator",
      version: "1.0.0",
      description:
        "Protocol v1, the public contract (docs/protocol.md): JSON over NATS from any client. Generated from the zod schemas by `npm run schemas`; CI checks it is current.",
    },
    defaultContentType: "application/json",
    servers: {
      nats: {
        host: "localhost:4222",
        protocol: "nats",
        description: "Any server of the cluster; clients connect with the client role (docs/security.md).",
      },
    },
    channels: {
      request: {
        address: PUBLIC_SUBJECTS.request,
        description: "Request/reply: one request in, one reply on the requester's inbox.",
        messages: { request: ref("messages", "OrchestrateRequest") },
      },
      reply: {
        address: null,
        description: "The requester's inbox (`_INBOX.…`), named by the request's reply subject.",
        messages: { reply: ref("messages", "OrchestrateReply") },
      },
      events: {
        address: `${PUBLIC_SUBJECTS.eventsPrefix}.{requestId}`,
        description:
          "The events of one request, kept in JetStream (stream TF_EVENTS) so a late reader can replay them.",
        parameters: { requestId: { description: "The request's id." } },
        messages: { event: ref("messages", "OrchestrateEvent") },
      },
      cancel: {
        address: `${PUBLIC_SUBJECTS.cancelPrefix}.{requestId}`,
        description: "Any message cancels the request; every actor copy hears it.",
        parameters: { requestId: { description: "The request's id." } },
        messages: { cancel: ref("messages", "Cancel") },
      },
      approve: {
        address: `${PUBLIC_SUBJECTS.approvePrefix}.{requestId}`,
        description:
          "Approves or denies one of the request's calls that waits for approval (`tool.awaiting_approval`), matched by its call id; the first decision for a call is applied, once. Sent as a request, it is answered.",
        parameters: { requestId: { description: "The request's id." } },
        messages: { approve: ref("messages", "Approve") },
      },
      approveReply: {
        address: null,
        description: "The approver's inbox.",
        messages: { reply: ref("messages", "ApproveReply") },
      },
      replay: {
        address: `${PUBLIC_SUBJECTS.replayPrefix}.{requestId}`,
        description:
          "Runs a finished request again from its records: each recorded model turn stands in for the model (which is not asked), the calls run against the tools as they are now, and the answer compares the two runs. With `dryRun`, only the recorded timeline is answered and nothing runs.",
        parameters: { requestId: { description: "The id of the finished request." } },
        messages: { replay: ref("messages", "Replay") },
      },
      replayReply: {
        address: null,
        description: "The requester's inbox: answered once the replay has run (at once for a dry run).",
        messages: { reply: ref("messages", "ReplayReply") },
      },
      tools: {
        address: PUBLIC_SUBJECTS.tools,
        description: "Request/reply: an empty request, the tools available now in the reply.",
        messages: { list: ref("messages", "ToolsRequest") },
      },
      toolsReply: {
        address: null,
        description: "The requester's inbox.",
        messages: { reply: ref("messages", "ToolsReply") },
      },
      callCancel: {
        address: `${PUBLIC_SUBJECTS.callCancelPrefix}.{tool}`,
        description:
          "Broadcast when one call stops before it finished (cancel, deadline, tool timeout, lost race, speculation not asked for); services behind remote tools may stop its work.",
        parameters: { tool: { description: "The tool's name (a remote tool's endpoint name)." } },
        messages: { callCancel: ref("messages", "CallCancel") },
      },
      remoteToolCall: {
        address: "{subject}",
        description:
          "A remote tool: an endpoint of a NATS micro service run with the tool-provider role, discovered through `$SRV.INFO`, offered when its metadata (`x-toolformer-endpoint-metadata`) has `toolformer.parameters`. The subject is the endpoint's own, outside `tf.`, `orchestrate.`, `_INBOX.` and `$`.",
        parameters: { subject: { description: "The endpoint's subject." } },
        messages: { call: ref("messages", "RemoteToolCall") },
        "x-toolformer-endpoint-metadata": payload(RemoteToolMetadataSchema, "input"),
      },
      remoteToolReply: {
        address: null,
        description: "The executor's inbox.",
        messages: { reply: ref("messages", "RemoteToolReply") },
      },
    },
    operations: {
      orchestrate: {
        action: "send",
        channel: ref("channels", "request"),
        summary: "Run a request to the model's answer.",
        reply: { channel: ref("channels", "reply") },
      },
      readEvents: {
        action: "receive",
        channel: ref("channels", "events"),
        summary: "Follow a request: turns, calls, progress, its end.",
      },
      cancel: { action: "send", channel: ref("channels", "cancel"), summary: "Cancel a request." },
      approve: {
        action: "send",
        channel: ref("channels", "approve"),
        summary: "Approve or deny a call that waits for approval.",
        reply: { channel: ref("channels", "approveReply") },
      },
      replay: {
        action: "send",
        channel: ref("channels", "replay"),
        summary: "Replay a finished request without the model and compare, or show its recorded timeline.",
        reply: { channel: ref("channels", "replayReply") },
      },
      listTools: {
        action: "send",
        channel: ref("channels", "tools"),
        summary: "The tools available now.",
        reply: { channel: ref("channels", "toolsReply") },
      },
      hearCallCancel: {
        action: "receive",
        channel: ref("channels", "callCancel"),
        summary: "A remote tool's service hears that a call it holds should stop.",
      },
      serveRemoteTool: {
        action: "receive",
        channel: ref("channels", "remoteToolCall"),
        summary: "A remote tool's service answers a call.",
        reply: { channel: ref("channels", "remoteToolReply") },
      },
    },
    components: {
      messages: {
        OrchestrateRequest: {
          name: "orchestrate.request",
          payload: payload(OrchestrateRequestSchema, "input"),
          headers: {
            type: "object",
            properties: {
              [Header.traceparent]: header("Optional W3C trace context: the request's trace continues the caller's."),
              [Header.tracestate]: header("Optional W3C vendor trace state, beside traceparent."),
            },
          },
        },
        OrchestrateReply: { name: "orchestrate.reply", payload: payload(OrchestrateReplySchema, "output") },
        OrchestrateEvent: { name: "orchestrate.event", payload: payload(OrchestrateEventSchema, "output") },
        Cancel: {
          name: "cancel",
          summary: "Any body.",
          headers: {
            type: "object",
            properties: { [Header.cancelReason]: header("Why: `client` (default) or `timeout`.") },
          },
        },
        Approve: { name: "orchestrate.approve", payload: payload(ApproveMessageSchema, "input") },
        ApproveReply: { name: "orchestrate.approve.reply", payload: payload(ApproveReplySchema, "output") },
        Replay: { name: "orchestrate.replay", payload: payload(ReplayMessageSchema, "input") },
        ReplayReply: { name: "orchestrate.replay.reply", payload: payload(ReplayReplySchema, "output") },
        ToolsRequest: { name: "orchestrate.tools", summary: "An empty body." },
        ToolsReply: { name: "orchestrate.tools.reply", payload: payload(ToolsReplySchema, "output") },
        CallCancel: {
          name: "orchestrate.call.cancel",
          payload: payload(CallCancelSchema, "output"),
          headers: {
            type: "object",
            properties: {
              [Header.requestId]: header("The request's id."),
              [Header.callId]: header("The call's id."),
              [Header.cancelReason]: header("Why the call stopped.", { enum: cancelReasons }),
            },
          },
        },
        RemoteToolCall: {
          name: "remote tool call",
          summary: `The call's JSON arguments, valid against the endpoint's \`${REMOTE_TOOL_METADATA.parameters}\`.`,
          payload: { type: "object" },
          headers: {
            type: "object",
            properties: {
              [Header.requestId]: header(
                "The request's id: with the call id, the key a tool with side effects answers a repeat from.",
              ),
              [Header.callId]: header("The call's id."),
              [Header.traceparent]: header("W3C trace context: the call's execute_tool span."),
              [Header.tracestate]: header("W3C vendor trace state, when the trace has one."),
              [Header.deadline]: header("The request's deadline, epoch milliseconds.", { pattern: "^[0-9]+$" }),
            },
          },
        },
        RemoteToolReply: {
          name: "remote tool reply",
          summary: "The JSON result (an empty body is null); an error sets the service API's error headers.",
          headers: {
            type: "object",
            properties: {
              [Header.serviceError]: header("The error's message: the call fails with TOOL_FAILED."),
              [Header.serviceErrorCode]: header("The error's code."),
            },
          },
        },
      },
    },
  };
}
