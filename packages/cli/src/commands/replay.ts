import { connectCliClient } from "../local-credentials.ts";
import { ExitCode, unavailableExit } from "../exit-codes.ts";
import { renderReplay, renderTimeline } from "../replay-report.ts";

export interface ReplayOptions {
  requestId: string;
  /** Only show the recorded timeline: nothing runs. */
  dryRun: boolean;
  /** The orchestrator's answer as one JSON line, for scripts. */
  json: boolean;
}

/**
 * Runs a finished request again from its records, without the model, against the tools as they are
 * now, and prints what differs; with `dryRun`, prints the recorded timeline. Exits 0 when the replay
 * matches (or for a dry run), `ExitCode.differs` when it does not, `ExitCode.rejected` when the request
 * cannot be replayed, `ExitCode.unavailable` when no dispatcher answers.
 */
export async function runReplayCommand(options: ReplayOptions): Promise<number> {
  const client = await connectCliClient();
  try {
    const answer = await client.replay(options.requestId, { dryRun: options.dryRun });
    if (options.json) console.log(JSON.stringify(answer));
    if (!answer.ok) {
      if (!options.json) console.error(`not replayed: ${answer.error.code} ${answer.error.message}`);
      return ExitCode.rejected;
    }
    const { recorded, replayId, diff } = answer;
    if (!replayId || !diff) {
      if (!options.json) for (const line of renderTimeline(recorded)) console.log(line);
      return ExitCode.completed;
    }
    if (!options.json) for (const line of renderReplay(recorded, replayId, diff)) console.log(line);
    return diff.same ? ExitCode.completed : ExitCode.differs;
  } catch (error) {
    return unavailableExit(error);
  } finally {
    await client.close();
  }
}
