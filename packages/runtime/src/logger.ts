import { pino, type Logger } from "pino";

export type { Logger };

/** JSON logs on stdout; every line names the actor and the copy, callers add `requestId`/`callId`. */
export function createLogger(actor: string, actorId: string, level: string): Logger {
  return pino({ level, base: { actor, actorId } });
}
