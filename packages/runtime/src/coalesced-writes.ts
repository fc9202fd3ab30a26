import { ProtocolHandler } from "@nats-io/nats-core/internal";

/**
 * nats.js (3.4.0) buffers what a connection sends and writes it to the socket at the end of the
 * current microtask queue. An actor's work for one message is a chain of awaits (decode, handle,
 * publish, ack), so the publishes and acks of messages handled side by side each reach the end of
 * a different microtask queue: one socket write, and one read on the server, each. Profiled under the
 * throughput workload, `writeBuffer` was 7-22% of an actor's CPU.
 *
 * This writes at the end of the event loop's turn instead (`setImmediate`): everything the messages
 * read in one turn send goes out in one write, in the order it was sent. Nothing waits on a timer:
 * the write happens before the loop polls for I/O again. A full buffer is still written at once, and
 * `flush()` (a PING) still writes what is pending at once.
 */
interface ProtocolInternals {
  outbound: { length(): number; size(): number; fill(buf: Uint8Array, ...payloads: Uint8Array[]): void };
  pendingLimit: number;
  flushPending(): void;
}

const encoder = new TextEncoder();
let applied = false;

/** Applies the change once per process; safe to call from every connection. */
export function coalesceWritesPerTurn(): void {
  if (applied) return;
  applied = true;
  const proto = ProtocolHandler.prototype as unknown as {
    sendCommand(this: ProtocolInternals, cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
  };
  proto.sendCommand = function (cmd, ...payloads) {
    const pending = this.outbound.length();
    this.outbound.fill(typeof cmd === "string" ? encoder.encode(cmd) : cmd, ...payloads);
    if (pending === 0) setImmediate(() => this.flushPending());
    else if (this.outbound.size() >= this.pendingLimit) this.flushPending();
  };
}
