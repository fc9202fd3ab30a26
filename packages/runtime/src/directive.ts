import type { JsMsg } from "@nats-io/jetstream";

/**
 * What to do with a JetStream message after handling it. Actors decide with pure functions; this is
 * the one place the decision becomes `ack`, `nak(delay)` or `term`.
 */
export type Directive =
  | { kind: "ack" }
  | { kind: "retry"; delayMs: number }
  | { kind: "handBack" }
  | { kind: "leave" }
  | { kind: "terminate"; reason: string };

export const ack = (): Directive => ({ kind: "ack" });
export const retry = (delayMs: number): Directive => ({ kind: "retry", delayMs });
export const terminate = (reason: string): Directive => ({ kind: "terminate", reason });
/**
 * This copy is stopping and has not finished the message: another copy takes it now, and the hand-back
 * does not count against `max_deliver` (`runConsumer` stores a copy; see `Delivery.stopping`).
 */
export const handBack = (): Directive => ({ kind: "handBack" });
/**
 * Neither ack nor nak: another copy has the message now (this delivery's lease lapsed, e.g. while a
 * node was down, and the server gave it to another copy), and settling it here would settle that
 * copy's work too.
 */
export const leave = (): Directive => ({ kind: "leave" });

/**
 * Applies a directive with the message's own acks. `handBack` becomes a `nak` without delay here (the
 * server redelivers at once, counting a delivery): `runConsumer` hands back by storing a copy instead,
 * and falls back to this only when the copy cannot be stored.
 */
export function applyDirective(msg: JsMsg, directive: Directive): void {
  switch (directive.kind) {
    case "ack":
      msg.ack();
      return;
    case "retry":
      msg.nak(directive.delayMs);
      return;
    case "handBack":
      msg.nak();
      return;
    case "terminate":
      msg.term(directive.reason.slice(0, 256));
      return;
    case "leave":
      return;
  }
}
