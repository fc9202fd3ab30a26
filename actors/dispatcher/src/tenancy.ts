import {
  DEFAULT_PRIORITY,
  ErrorCode,
  TENANT_PATTERN,
  tenantRequestId,
  type ErrorBody,
  type OrchestrateRequest,
} from "@toolformer/protocol";
import { z } from "zod";

/** What the operator lets one tenant ask for. */
export const TenantPolicySchema = z.strictObject({
  /** The highest `options.priority` its requests may ask for (0-9). */
  maxPriority: z.int().min(0).max(9),
});
/** Policies by tenant (TF_TENANT_POLICIES, JSON): `{"acme": {"maxPriority": 9}}`. */
export const TenantPoliciesSchema = z.record(z.string().regex(TENANT_PATTERN), TenantPolicySchema);
export type TenantPolicies = z.infer<typeof TenantPoliciesSchema>;

/**
 * A tenant the operator gave no policy may ask for up to the default priority: it can put its own
 * requests behind its others, never ahead of every other tenant's ordinary ones.
 */
export const DEFAULT_TENANT_MAX_PRIORITY = DEFAULT_PRIORITY;

/** The options a request's body set itself, before the schema's defaults (which say nothing of the sender). */
export const AskedOptionsSchema = z.object({
  options: z.object({ priority: z.number().optional(), tenant: z.string().optional() }).optional(),
});
export type AskedOptions = NonNullable<z.infer<typeof AskedOptionsSchema>["options"]>;

export type Admission =
  { ok: true; requestId: string; request: OrchestrateRequest & { id: string } } | { ok: false; error: ErrorBody };

/**
 * Pure: whose request this is and whether it may run as asked (docs/adr/0017-tenants-are-accounts.md).
 * `tenant` is the one the server named: the request came through that tenant's account. A request on
 * `orchestrate.request` in the orchestrator's own account (`tenant` undefined) runs as its body says,
 * as before tenants existed. A tenant's request runs as that tenant, under the id `tenantRequestId`;
 * its body may name no other tenant (TENANT_MISMATCH) nor a priority above its policy's
 * (PRIORITY_NOT_ALLOWED); one that names no priority gets the default, within the policy.
 */
export function admitRequest(
  request: OrchestrateRequest,
  id: string,
  asked: AskedOptions,
  tenant: string | undefined,
  policies: TenantPolicies,
): Admission {
  if (tenant === undefined) return { ok: true, requestId: id, request: { ...request, id } };
  if (asked.tenant !== undefined && asked.tenant !== tenant) {
    return {
      ok: false,
      error: {
        code: ErrorCode.TENANT_MISMATCH,
        message: `the request names tenant ${asked.tenant}, but its credentials are tenant ${tenant}'s`,
        details: { tenant, requested: asked.tenant },
      },
    };
  }
  const maxPriority = policies[tenant]?.maxPriority ?? DEFAULT_TENANT_MAX_PRIORITY;
  if (asked.priority !== undefined && asked.priority > maxPriority) {
    return {
      ok: false,
      error: {
        code: ErrorCode.PRIORITY_NOT_ALLOWED,
        message: `priority ${asked.priority} is above tenant ${tenant}'s maximum of ${maxPriority}`,
        details: { tenant, priority: asked.priority, maxPriority },
      },
    };
  }
  return {
    ok: true,
    requestId: tenantRequestId(tenant, id),
    request: {
      ...request,
      id,
      options: { ...request.options, tenant, priority: asked.priority ?? Math.min(DEFAULT_PRIORITY, maxPriority) },
    },
  };
}
