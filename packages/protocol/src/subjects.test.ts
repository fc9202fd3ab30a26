import { describe, expect, it } from "vitest";
import { INTERNAL_SUBJECTS, isInboxSubject } from "./subjects.ts";
import { RequestRunSchema } from "./messages/internal.ts";

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
