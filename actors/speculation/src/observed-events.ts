import { EventType, Header } from "@toolformer/protocol";

/**
 * The event types the observer learns from: tool outcomes (each tool's stats) and speculative calls'
 * fates (calibration, metrics). Every other event (two thirds of a busy stream: each call's
 * `tool.scheduled` and `tool.started`, the model turns) it passes over unread.
 */
export const OBSERVED_EVENT_TYPES: ReadonlySet<string> = new Set([
  EventType.toolCompleted,
  EventType.toolFailed,
  EventType.toolCancelled,
  EventType.speculationStarted,
  EventType.speculationHit,
  EventType.speculationMiss,
]);

/**
 * Whether a stored event, by its type header, is one the observer learns nothing from. An event with
 * no such header (stored by a copy from before it) is read, as every event was.
 */
export function unobserved(headers: { get(name: string): string } | undefined): boolean {
  const type = headers?.get(Header.eventType);
  return type !== undefined && type !== "" && !OBSERVED_EVENT_TYPES.has(type);
}
