import { EventType, type OrchestrateEvent } from "@toolformer/protocol";

/** What the observer learns per tool; the later predictors start from these counts. */
export interface ToolStats {
  completed: number;
  failed: number;
  cancelled: number;
  totalDurationMs: number;
}

export const EMPTY_STATS: ToolStats = { completed: 0, failed: 0, cancelled: 0, totalDurationMs: 0 };

/** The stats after one event, or undefined when the event says nothing about a tool's outcome. */
export function applyEvent(stats: ToolStats, event: OrchestrateEvent): ToolStats | undefined {
  switch (event.type) {
    case EventType.toolCompleted:
      return { ...stats, completed: stats.completed + 1, totalDurationMs: stats.totalDurationMs + event.durationMs };
    case EventType.toolFailed:
      return { ...stats, failed: stats.failed + 1 };
    case EventType.toolCancelled:
      return { ...stats, cancelled: stats.cancelled + 1 };
    default:
      return undefined;
  }
}
