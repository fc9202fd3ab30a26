import type { JsMsg } from "@nats-io/jetstream";

/**
 * What to do with a JetStream message after handling it. Actors decide with pure functions; this is
 * the one place the decision becomes `ack`, `nak(delay)` or `term`.
 */
export type Directive = { kind: "ack" } | { kind: "retry"; delayMs: number } | { kind: "terminate"; reason: string };

export const ack = (): Directive => ({ kind: "ack" });
export const retry = (delayMs: number): Directive => ({ kind: "retry", delayMs });
export const terminate = (reason: string): Directive => ({ kind: "terminate", reason });

export function applyDirective(msg: JsMsg, directive: Directive): void {
  switch (directive.kind) {
    case "ack":
      msg.ack();
      return;
    case "retry":
      msg.nak(directive.delayMs);
      return;
    case "terminate":
      msg.term(directive.reason.slice(0, 256));
      return;
  }
}
