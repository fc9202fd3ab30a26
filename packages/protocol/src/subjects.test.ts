import { describe, expect, it } from "vitest";
import {
  eventsSubject,
  INTERNAL_SUBJECTS,
  isInboxSubject,
  isReplySubject,
  requestIdFromCancelSubject,
  requestIdFromReplaySubject,
  TENANT_SUBJECTS,
  tenantOfRequestSubject,
} from "./subjects.ts";
import { tenantOfRequestId, tenantRequestId } from "./ids.ts";
import { RequestRunSchema } from "./messages/internal.ts";
import { RequestIdSchema } from "./messages/request.ts";

describe("isInboxSubject", () => {
  it("accepts the inboxes NATS clients make", () => {
    expect(isInboxSubject("_INBOX.Hx8s2kTq9.1")).toBe(true);
    expect(isInboxSubject("_INBOX.abc")).toBe(true);
  });

  it("refuses internal and public subjects, wildcards and empty tokens", () => {
    for (const subject of [
      INTERNAL_SUBJECTS.exec("echo"),
      INTERNAL_SUBJECTS.requestRun("x"),
      "orchestrate.request",
      "_INBOX",
      "_INBOX.>",
      "_INBOX.*",
      "_INBOX..x",
      "_INBOXX.a",
      "_INBOX.a b",
      "x._INBOX.a",
    ])
      expect(isInboxSubject(subject), subject).toBe(false);
  });

  it("keeps a stored run from naming anything but an inbox as its reply subject", () => {
    const run = {
      requestId: "r",
      deadline: 1,
      traceparent: "t",
      attempt: 1,
      replyEncoding: "application/json",
      acceptedAt: 1,
    };
    const request = { prompt: "hi", model: "fake:echo" };
    expect(RequestRunSchema.safeParse({ ...run, request, replyTo: "_INBOX.a.1" }).success).toBe(true);
    expect(RequestRunSchema.safeParse({ ...run, request, replyTo: INTERNAL_SUBJECTS.exec("echo") }).success).toBe(
      false,
    );
  });
});

describe("tenants' subjects and ids (ADR 0017)", () => {
  it("reads the tenant from a tenant's request subject only", () => {
    expect(tenantOfRequestSubject(TENANT_SUBJECTS.request("acme"))).toBe("acme");
    for (const subject of [
      "orchestrate.request",
      "orchestrate.tenant.acme",
      "orchestrate.tenant.a.b.request",
      "x.tenant.acme.request",
    ])
      expect(tenantOfRequestSubject(subject), subject).toBeUndefined();
  });

  it("gives two tenants' same id two request ids, none equal to any client's id", () => {
    const ids = ["order-1", "a.b", "req_x"];
    const qualified = ids.flatMap((id) => ["acme", "globex"].map((tenant) => tenantRequestId(tenant, id)));
    expect(new Set(qualified).size).toBe(qualified.length);
    for (const id of qualified) expect(RequestIdSchema.safeParse(id).success, id).toBe(false);
    expect(tenantOfRequestId(tenantRequestId("acme", "a.b"))).toBe("acme");
    expect(tenantOfRequestId("a.b")).toBeUndefined();
    // Its events and cancels fall under the wildcards exported to that tenant alone.
    expect(eventsSubject(tenantRequestId("acme", "a.b"))).toBe("orchestrate.events.@acme.a.b");
    expect(TENANT_SUBJECTS.eventsOf("acme")).toBe("orchestrate.events.@acme.>");
    expect(requestIdFromCancelSubject(`${TENANT_SUBJECTS.cancelOf("acme").slice(0, -2)}.a.b`)).toBe("@acme.a.b");
    expect(requestIdFromReplaySubject(`${TENANT_SUBJECTS.replayOf("acme").slice(0, -2)}.a.b`)).toBe("@acme.a.b");
  });

  it("answers the server's reply subject only for a request that crossed accounts", () => {
    expect(isReplySubject("_R_.abc.def", true)).toBe(true);
    expect(isReplySubject("_R_.abc.def", false)).toBe(false);
    expect(isReplySubject("_INBOX.a", false)).toBe(true);
    expect(isReplySubject("_R_.>", true)).toBe(false);
    const run = { deadline: 1, traceparent: "t", attempt: 1, replyEncoding: "application/json", acceptedAt: 1 };
    const request = { prompt: "hi", model: "fake:echo" };
    const withReply = (requestId: string) =>
      RequestRunSchema.safeParse({ ...run, requestId, request, replyTo: "_R_.a.b" });
    expect(withReply(tenantRequestId("acme", "x")).success).toBe(true);
    expect(withReply("x").success).toBe(false);
  });
});
