import { z } from "zod";
import { REQUEST_ID_PATTERN, TOOL_NAME_PATTERN } from "../ids.ts";

export const DEFAULT_TIMEOUT_MS = 120_000;
export const DEFAULT_MAX_ROUNDS = 8;
export const DEFAULT_PRIORITY = 5;
export const DEFAULT_TENANT = "default";
export const MAX_TIMEOUT_MS = 3_600_000;

export const Strategy = { parallel: "parallel", sequential: "sequential", hybrid: "hybrid" } as const;
export type Strategy = (typeof Strategy)[keyof typeof Strategy];

export const RequestIdSchema = z
  .string()
  .regex(REQUEST_ID_PATTERN, "id must match [A-Za-z0-9_.-]{1,128}")
  // Ids become NATS subject tokens: an empty dot-separated segment would make an invalid subject.
  .refine((id) => !id.split(".").includes(""), "id must not start or end with '.' nor contain '..'");

export const ToolNameSchema = z.string().regex(TOOL_NAME_PATTERN, "tool names match [A-Za-z0-9_-]{1,64}");

export const RaceGroupsSchema = z
  .record(
    z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "race group names match [A-Za-z0-9_-]{1,64}"),
    z.array(ToolNameSchema).min(1).max(64),
  )
  .refine((groups) => Object.keys(groups).length <= 64, "at most 64 race groups");
export type RaceGroups = z.infer<typeof RaceGroupsSchema>;

export const ChatMessageSchema = z.strictObject({
  role: z.enum(["system", "user", "assistant"]),
  content: z.string(),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

export const RequestOptionsSchema = z.strictObject({
  /**
   * Calls of this request running at once. Absent: no cap of the request's own, so a turn's calls all
   * start together unless a rate limit or concurrency cap of the tool or the cluster holds them back.
   */
  maxParallel: z.int().min(1).max(1024).optional(),
  timeoutMs: z.int().min(1).max(MAX_TIMEOUT_MS).default(DEFAULT_TIMEOUT_MS),
  maxRounds: z.int().min(1).max(64).default(DEFAULT_MAX_ROUNDS),
  priority: z.int().min(0).max(9).default(DEFAULT_PRIORITY),
  tenant: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "tenant must match [A-Za-z0-9_.-]{1,64}")
    .default(DEFAULT_TENANT),
  /** Start the calls the model is expected to ask for while it thinks; absent: the operator's default (off). */
  speculation: z.boolean().optional(),
  strategy: z.enum(Strategy).default(Strategy.parallel),
  /** Hand each tool call to the scheduler as soon as the model has finished writing it (streaming providers). */
  earlyDispatch: z.boolean().default(true),
  /**
   * Race groups, by name: within a round, the first call of any of the group's tools to succeed
   * cancels the group's other calls (queued ones are dropped, running ones aborted).
   */
  race: RaceGroupsSchema.default({}),
  /**
   * Take results from the result cache of tools that opt in to it (docs/tools.md#result-cache); false:
   * every call runs, and the cache is neither read nor written for this request.
   */
  cache: z.boolean().default(true),
});
export type RequestOptions = z.infer<typeof RequestOptionsSchema>;

/** `orchestrate.request`: unknown fields are refused so that a typo never silently changes behaviour. */
export const OrchestrateRequestSchema = z
  .strictObject({
    id: RequestIdSchema.optional(),
    prompt: z.string().min(1).optional(),
    messages: z.array(ChatMessageSchema).min(1).optional(),
    system: z.string().optional(),
    model: z.string().min(1).max(256),
    tools: z.array(ToolNameSchema).max(512).optional(),
    options: RequestOptionsSchema.default(RequestOptionsSchema.parse({})),
  })
  .refine((r) => (r.prompt === undefined) !== (r.messages === undefined), {
    message: "exactly one of prompt or messages is required",
    path: ["prompt"],
  });
export type OrchestrateRequestInput = z.input<typeof OrchestrateRequestSchema>;
export type OrchestrateRequest = z.output<typeof OrchestrateRequestSchema>;

/** `"<provider>:<model name>"`; the provider part is resolved by the dispatcher (UNKNOWN_MODEL if absent). */
export function parseModelRef(model: string): { provider: string; name: string } | undefined {
  const colon = model.indexOf(":");
  if (colon <= 0 || colon === model.length - 1) return undefined;
  return { provider: model.slice(0, colon), name: model.slice(colon + 1) };
}
