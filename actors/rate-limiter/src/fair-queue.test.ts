import { describe, expect, it } from "vitest";
import { FairQueue } from "./fair-queue.ts";

interface W {
  id: string;
  tenant: string;
  priority: number;
  since: number;
}
const w = (id: string, tenant: string, priority: number, since: number): W => ({ id, tenant, priority, since });

function drain(queue: FairQueue<W>, now: number): string[] {
  const order: string[] = [];
  for (let next = queue.peek(now); next; next = queue.peek(now)) {
    order.push(next.id);
    queue.served(next);
  }
  return order;
}

describe("fair queue", () => {
  it("is first come, first served within a tenant and a priority", () => {
    const queue = new FairQueue<W>(60_000);
    for (const [id, since] of [
      ["b", 2],
      ["a", 1],
      ["c", 3],
    ] as const)
      queue.add(w(id, "t", 5, since));
    expect(drain(queue, 10)).toEqual(["a", "b", "c"]);
  });

  it("lets tenants take turns, however many calls one of them floods in", () => {
    const queue = new FairQueue<W>(60_000);
    for (let i = 0; i < 6; i++) queue.add(w(`flood${i}`, "flood", 5, i));
    queue.add(w("quiet0", "quiet", 5, 10));
    queue.add(w("quiet1", "quiet", 5, 11));
    expect(drain(queue, 20)).toEqual(["flood0", "quiet0", "flood1", "quiet1", "flood2", "flood3", "flood4", "flood5"]);
  });

  it("serves higher priority first, but a long wait ages a low priority up", () => {
    const queue = new FairQueue<W>(1_000);
    queue.add(w("low", "t", 1, 0));
    const high = w("high", "t", 9, 100);
    queue.add(high);
    expect(queue.peek(200)?.id).toBe("high");
    queue.served(high);
    // A stream of fresh high-priority calls: after 8 s the low one ranks 1 + 8 = 9, level with them, and came first.
    queue.add(w("fresh-high", "t", 9, 7_900));
    expect(queue.peek(8_000)?.id).toBe("low");
  });

  it("forgets a removed waiter", () => {
    const queue = new FairQueue<W>(1_000);
    const gone = w("gone", "t", 5, 0);
    queue.add(gone);
    queue.add(w("stays", "t", 5, 1));
    expect(queue.remove(gone)).toBe(true);
    expect(queue.remove(gone)).toBe(false);
    expect(queue.size).toBe(1);
    expect(drain(queue, 5)).toEqual(["stays"]);
  });
});
