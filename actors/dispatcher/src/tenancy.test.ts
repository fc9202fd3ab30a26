import { OrchestrateRequestSchema, tenantRequestId } from "@toolformer/protocol";
import { describe, expect, it } from "vitest";
import { admitRequest, DEFAULT_TENANT_MAX_PRIORITY } from "./tenancy.ts";

const request = (options: Record<string, unknown> = {}) =>
  OrchestrateRequestSchema.parse({ prompt: "hi", model: "fake:echo", options });

describe("admitRequest", () => {
  const policies = { acme: { maxPriority: 8 }, low: { maxPriority: 1 } };

  it("runs a request of the orchestrator's own account as its body says", () => {
    const admitted = admitRequest(
      request({ tenant: "globex", priority: 9 }),
      "r1",
      { tenant: "globex", priority: 9 },
      undefined,
      policies,
    );
    expect(admitted).toEqual({
      ok: true,
      requestId: "r1",
      request: { ...request({ tenant: "globex", priority: 9 }), id: "r1" },
    });
  });

  it("runs a tenant's request as that tenant, under its qualified id", () => {
    const admitted = admitRequest(request(), "r1", {}, "acme", policies);
    expect(admitted).toMatchObject({
      ok: true,
      requestId: tenantRequestId("acme", "r1"),
      request: { id: "r1", options: { tenant: "acme", priority: 5 } },
    });
  });

  it("refuses a body that names another tenant; its own name, or none, is fine", () => {
    expect(admitRequest(request({ tenant: "globex" }), "r", { tenant: "globex" }, "acme", policies)).toMatchObject({
      ok: false,
      error: { code: "TENANT_MISMATCH", details: { tenant: "acme", requested: "globex" } },
    });
    expect(admitRequest(request({ tenant: "acme" }), "r", { tenant: "acme" }, "acme", policies).ok).toBe(true);
  });

  it("refuses a priority above the tenant's policy, or above the default without one", () => {
    expect(admitRequest(request({ priority: 9 }), "r", { priority: 9 }, "acme", policies)).toMatchObject({
      ok: false,
      error: { code: "PRIORITY_NOT_ALLOWED", details: { priority: 9, maxPriority: 8 } },
    });
    expect(admitRequest(request({ priority: 8 }), "r", { priority: 8 }, "acme", policies).ok).toBe(true);
    const over = DEFAULT_TENANT_MAX_PRIORITY + 1;
    expect(admitRequest(request({ priority: over }), "r", { priority: over }, "other", policies)).toMatchObject({
      ok: false,
      error: { code: "PRIORITY_NOT_ALLOWED", details: { maxPriority: DEFAULT_TENANT_MAX_PRIORITY } },
    });
  });

  it("runs a request that asks no priority at the default, lowered to the policy's maximum", () => {
    expect(admitRequest(request(), "r", {}, "low", policies)).toMatchObject({
      ok: true,
      request: { options: { priority: 1 } },
    });
    expect(admitRequest(request(), "r", {}, "acme", policies)).toMatchObject({
      ok: true,
      request: { options: { priority: 5 } },
    });
  });
});
