import { EventType, type OrchestrateEvent } from "@toolformer/protocol";

/** What the observer learns per tool; the later predictors start from these counts. */
export interface ToolStats {
  completed: number;
  failed: number;
  cancelled: number;
  totalDurationMs: number;
}

export const EMPTY_STATS: ToolStats = { completed: 0, failed: 0, cancelled: 0, totalDurationMs: 0 };

/** The change one event makes to its tool's stats, or undefined when it says nothing about an outcome. */
export function deltaOf(event: OrchestrateEvent): ToolStats | undefined {
  switch (event.type) {
    case EventType.toolCompleted:
      return { ...EMPTY_STATS, completed: 1, totalDurationMs: event.durationMs };
    case EventType.toolFailed:
      return { ...EMPTY_STATS, failed: 1 };
    case EventType.toolCancelled:
      return { ...EMPTY_STATS, cancelled: 1 };
    default:
      return undefined;
  }
}

export function addStats(a: ToolStats, b: ToolStats): ToolStats {
  return {
    completed: a.completed + b.completed,
    failed: a.failed + b.failed,
    cancelled: a.cancelled + b.cancelled,
    totalDurationMs: a.totalDurationMs + b.totalDurationMs,
  };
}
