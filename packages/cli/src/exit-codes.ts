import { OrchestratorUnavailableError, ReplyTimeoutError } from "@toolformer/client";

/** What `toolformer` exits with, for scripts. */
export const ExitCode = {
  /** The request completed (or the command did what it says). */
  completed: 0,
  /** The request failed or timed out; or the command failed. */
  failed: 1,
  /** The command line was wrong. */
  usage: 2,
  /** No dispatcher answered, or no reply came in time. */
  unavailable: 3,
  /** The request was refused (`rejected`: bad input, over a limit). */
  rejected: 4,
  /** Cancelled by Ctrl-C (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const;

/** No dispatcher answered, or none in time: says why and exits `unavailable`; any other error goes on up. */
export function unavailableOrThrow(error: unknown): number {
  if (error instanceof OrchestratorUnavailableError || error instanceof ReplyTimeoutError) {
    console.error(error.message);
    return ExitCode.unavailable;
  }
  throw error;
}
