import { describe, expect, it } from "vitest";
import { drive, type Clock, type Machine } from "./machine.ts";

/** A clock whose time moves only when the test says. */
function fakeClock() {
  let now = 0;
  const timers = new Map<number, { at: number; fire: () => void }>();
  let next = 1;
  const clock: Clock = {
    now: () => now,
    setTimeout(fire, ms) {
      const id = next++;
      timers.set(id, { at: now + ms, fire });
      return id;
    },
    clearTimeout: (handle) => void timers.delete(handle as number),
  };
  const advance = (ms: number) => {
    now += ms;
    for (const [id, timer] of [...timers].sort(([, a], [, b]) => a.at - b.at)) {
      if (timer.at > now) continue;
      timers.delete(id);
      timer.fire();
    }
  };
  return { clock, advance, pending: () => timers.size };
}

type Event = { type: "go" } | { type: "echoed"; n: number } | { type: "broke"; why: string };
type Command = { kind: "echo"; n: number } | { kind: "explode" };
interface State {
  seen: string[];
  done: boolean;
}

/** Echoes twice, waits for a timer, fails an effect, then ends. */
const machine: Machine<State, Event, Command> = {
  isFinal: (state) => state.done,
  step(state, event, now) {
    const seen = [
      ...state.seen,
      `${now}:${event.type}${"n" in event ? event.n : ""}${"name" in event ? event.name : ""}`,
    ];
    switch (event.type) {
      case "go":
        return {
          state: { ...state, seen },
          commands: [
            { kind: "echo", n: 1 },
            { kind: "echo", n: 2 },
            { kind: "setTimer", name: "later", at: now + 100 },
            { kind: "setTimer", name: "never", at: now + 1_000 },
          ],
        };
      case "timer":
        return { state: { ...state, seen }, commands: [{ kind: "explode" }] };
      case "broke":
        return { state: { seen: [...seen, event.why], done: true }, commands: [] };
      default:
        return { state: { ...state, seen }, commands: [] };
    }
  },
};

describe("driving a machine", () => {
  it("feeds events one at a time in order, keeps its timers, turns failed effects into events, and clears timers at the end", async () => {
    const { clock, advance, pending } = fakeClock();
    const driven = drive(
      machine,
      { seen: [], done: false },
      (command, emit) => {
        if (command.kind === "explode") return Promise.reject(new Error("boom"));
        emit({ type: "echoed", n: command.n });
      },
      { clock, onEffectFailed: (_command, error) => ({ type: "broke" as const, why: String(error) }) },
    );
    driven.emit({ type: "go" });
    expect(pending()).toBe(2);
    advance(100);
    const final = await driven.final;
    expect(final.seen).toEqual(["0:go", "0:echoed1", "0:echoed2", "100:timerlater", "100:broke", "Error: boom"]);
    expect(pending()).toBe(0); // the timer that never fired was cleared
  });

  it("ends with the error of a step that throws instead of looping on it", async () => {
    const broken: Machine<State, Event, Command> = {
      isFinal: () => false,
      step: () => {
        throw new Error("a bug in the machine");
      },
    };
    const driven = drive(broken, { seen: [], done: false }, () => undefined, {
      onEffectFailed: () => ({ type: "go" }),
    });
    driven.emit({ type: "go" });
    await expect(driven.final).rejects.toThrow(/a bug in the machine/);
  });
});
