/** One server-sent event, with the output tokens it stands for (used to pace the stream). */
export interface SseEvent {
  event?: string;
  data: string;
  tokens: number;
}

export function formatSse(event: SseEvent): string {
  return `${event.event ? `event: ${event.event}\n` : ""}data: ${event.data}\n\n`;
}
