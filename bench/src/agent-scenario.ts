/**
 * The agent benchmark's workload, shared by the stack, the raw relay and the tool process: the model's
 * first turn asks for one remote tool call, the second answers. The fake model plays it from a
 * scenario file, so both sides get the same bytes over the same HTTP.
 */
export const AGENT_TOOL = "bench_weather";
export const AGENT_TOOL_SUBJECT = "bench.weather";
export const AGENT_SCENARIO = "agent";
export const AGENT_PROMPT = "What is the weather in Paris?";
export const AGENT_ANSWER = "Sunny in Paris.";

export function lookupAnswer(city: string): { city: string; sky: string } {
  return { city, sky: "sunny" };
}

/** The fake model's script: one call of the remote tool, then the answer. */
export const AGENT_SCENARIO_FILE = {
  [AGENT_SCENARIO]: {
    turns: [{ toolCalls: [{ name: AGENT_TOOL, arguments: { city: "Paris" } }] }, { text: AGENT_ANSWER }],
  },
};
