/**
 * The overhead and throughput workloads' requests, shared by the stack and the raw relay: the model's
 * first turn asks for K calls of the no-op `echo` tool, the second answers. The fake model plays them
 * from a scenario file, one scenario per K.
 */
export const NOOP_TOOL = "echo";
export const NOOP_ANSWER = "done";

/** The fake model's name for the scenario of `calls` no-op calls (the stack prefixes its provider, `fake:`). */
export const noopScenario = (calls: number) => `noop-${calls}`;

/** The fake model's scripts for each number of calls. */
export function noopScenarios(calls: number[]): Record<string, unknown> {
  return Object.fromEntries(
    calls.map((k) => [
      noopScenario(k),
      {
        turns: [
          { toolCalls: Array.from({ length: k }, (_, value) => ({ name: NOOP_TOOL, arguments: { value } })) },
          { text: NOOP_ANSWER },
        ],
      },
    ]),
  );
}
