/**
 * Orchestration logic as pure state machines: `step(state, event, now)` returns the next state and the
 * commands to carry out, and touches nothing. A driver owns everything with a clock or a wire: it feeds
 * events in one at a time, carries out the commands through the actor's effects (which report back as
 * events), and keeps the machine's timers. Replaying recorded events through the same `step` rebuilds
 * the state a dead copy had, which is how a copy that takes work over goes on from where it stopped.
 */

/** A timer the driver keeps for the machine: it fires `{ type: "timer", name }` at `at` (epoch ms). */
export type TimerCommand = { kind: "setTimer"; name: string; at: number } | { kind: "clearTimer"; name: string };

/** What a timer set by `setTimer` delivers back. */
export interface TimerEvent {
  type: "timer";
  name: string;
}

export interface Step<S, C> {
  state: S;
  commands: readonly (C | TimerCommand)[];
}

export interface Machine<S, E, C> {
  step(state: S, event: E | TimerEvent, now: number): Step<S, C>;
  /** The machine has finished: the driver stops feeding it and clears its timers. */
  isFinal(state: S): boolean;
}

/** The world as a machine sees it, replaceable in tests. */
export interface Clock {
  now(): number;
  setTimeout(fire: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (fire, ms) => setTimeout(fire, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Carries out one command. It may emit any number of events, now or later; a promise it returns that
 * rejects becomes `onEffectFailed`'s event. Effects run concurrently: an effect whose outputs must stay
 * in order (publishes of one round) keeps its own chain.
 */
export type Effects<E, C> = (command: C, emit: (event: E) => void) => void | Promise<void>;

export interface DriveOptions<E, C> {
  clock?: Clock;
  /** The event an effect that failed reports, so the machine decides what a failure means. */
  onEffectFailed(command: C, error: unknown): E;
}

/** A machine being driven: events from outside (deliveries, cancels, a stop) go in through `emit`. */
export interface Driven<S, E> {
  emit(event: E): void;
  /** The final state; rejects if a step threw (a bug in the machine). */
  readonly final: Promise<S>;
}

/**
 * Runs a machine from `initial` until it is final. Events are handled one at a time, in the order
 * they were emitted; nothing happens until the first `emit`.
 */
export function drive<S, E, C extends { kind: string }>(
  machine: Machine<S, E, C>,
  initial: S,
  effects: Effects<E, C>,
  options: DriveOptions<E, C>,
): Driven<S, E> {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const timers = new Map<string, unknown>();
  const queue: (E | TimerEvent)[] = [];
  let state = initial;
  let draining = false;
  let emitOutside: (event: E) => void = () => {};

  const final = new Promise<S>((resolve, reject) => {
    let failed = false;
    const clearTimers = () => {
      for (const handle of timers.values()) clock.clearTimeout(handle);
      timers.clear();
    };
    const emit = (event: E | TimerEvent) => {
      queue.push(event);
      drain();
    };
    const carryOut = (command: C | TimerCommand) => {
      if (command.kind === "setTimer" || command.kind === "clearTimer") {
        const timer = command as TimerCommand;
        const existing = timers.get(timer.name);
        if (existing !== undefined) clock.clearTimeout(existing);
        timers.delete(timer.name);
        if (timer.kind === "setTimer") {
          const handle = clock.setTimeout(
            () => {
              timers.delete(timer.name);
              emit({ type: "timer", name: timer.name });
            },
            Math.max(0, timer.at - clock.now()),
          );
          timers.set(timer.name, handle);
        }
        return;
      }
      const effect = command as C;
      try {
        const running = effects(effect, emit);
        if (running) running.catch((error: unknown) => emit(options.onEffectFailed(effect, error)));
      } catch (error) {
        emit(options.onEffectFailed(effect, error));
      }
    };
    function drain() {
      if (draining || failed) return; // an effect emitted while a step ran: the loop below picks it up
      draining = true;
      try {
        while (queue.length > 0 && !machine.isFinal(state)) {
          const event = queue.shift() as E | TimerEvent;
          const next = machine.step(state, event, clock.now());
          state = next.state;
          for (const command of next.commands) carryOut(command);
        }
      } catch (error) {
        // A step that throws is a bug in the machine: the run ends with it rather than looping on it.
        failed = true;
        clearTimers();
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      } finally {
        draining = false;
      }
      if (machine.isFinal(state)) {
        clearTimers();
        queue.length = 0;
        resolve(state);
      }
    }
    emitOutside = emit;
  });
  return { emit: (event) => emitOutside(event), final };
}
