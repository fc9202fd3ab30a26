import { describe, expect, it } from "vitest";
import { LineOwners, ownerOf } from "./line-owners.ts";

const LINES = 64;

describe("LineOwners", () => {
  it("gives every line to exactly one of the copies that hear the same members, about evenly", () => {
    const ids = ["rate-limiter-a1", "rate-limiter-b2", "rate-limiter-c3"];
    const views = ids.map((id) => {
      const owners = new LineOwners(id, LINES, 3_000);
      for (const other of ids) owners.heard(other, 0);
      return owners.owned();
    });
    const counts = views.map((lines) => lines.size);
    expect(counts.reduce((a, b) => a + b)).toBe(LINES);
    for (let line = 0; line < LINES; line++) expect(views.filter((lines) => lines.has(line))).toHaveLength(1);
    for (const count of counts) expect(count).toBeGreaterThanOrEqual(12); // 21 or so each
  });

  it("moves only the leaving copy's lines", () => {
    const members = ["x", "y", "z"];
    const before = Array.from({ length: LINES }, (_, line) => ownerOf(line, members));
    const after = Array.from({ length: LINES }, (_, line) => ownerOf(line, ["x", "z"]));
    before.forEach((owner, line) => {
      if (owner !== "y") expect(after[line]).toBe(owner);
    });
  });

  it("owns everything alone, and forgets copies that went quiet or left", () => {
    const owners = new LineOwners("me", LINES, 3_000);
    expect(owners.owned().size).toBe(LINES);
    expect(owners.heard("other", 1_000)).toBe(true);
    expect(owners.heard("other", 2_000)).toBe(false);
    expect(owners.heard("me", 2_000)).toBe(false);
    expect(owners.owned().size).toBeLessThan(LINES);
    owners.expire(4_000);
    expect(owners.members).toEqual(["me", "other"]);
    owners.expire(5_001);
    expect(owners.members).toEqual(["me"]);
    owners.heard("third", 6_000);
    owners.left("third");
    owners.left("me");
    expect(owners.members).toEqual(["me"]);
  });
});
