import { describe, expect, it } from "vitest";
import { REPUBLISH_WITHIN_MS } from "./exec-call.ts";
import { resumptionOf } from "./takeover.ts";

describe("resumptionOf", () => {
  const now = 1_000_000;

  it("takes the stored result of a call that finished, however long ago it was handed out", () => {
    expect(resumptionOf(true, now - 10, now)).toBe("finished");
    expect(resumptionOf(true, now - 10 * REPUBLISH_WITHIN_MS, now)).toBe("finished");
  });

  it("hands out a call that never was", () => {
    expect(resumptionOf(false, undefined, now)).toBe("dispatch");
  });

  it("publishes a running call again only inside the window the stream drops the copy in", () => {
    expect(resumptionOf(false, now - 1_000, now)).toBe("republish");
    expect(resumptionOf(false, now - REPUBLISH_WITHIN_MS, now)).toBe("wait");
    expect(resumptionOf(false, now - 5 * REPUBLISH_WITHIN_MS, now)).toBe("wait");
  });
});
