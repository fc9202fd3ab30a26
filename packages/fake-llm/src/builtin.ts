import type { Scenario } from "./scenario.ts";

/** What the local dev stack answers with: weather for two cities and a sum, in parallel, then a summary. */
export const demoScenario: Scenario = (conversation) => {
  const results = conversation.messages.flatMap((m) => (m.role === "tool" ? [`${m.name}: ${m.content}`] : []));
  if (results.length > 0) return { text: `Here is what the tools said. ${results.join("; ")}` };
  return {
    toolCalls: [
      { name: "get_weather", arguments: { city: "Paris" } },
      { name: "get_weather", arguments: { city: "Tokyo" } },
      { name: "calculator", arguments: { expression: "21*2" } },
    ],
  };
};

/** Answers with the last user message, calling no tools. */
export const echoScenario: Scenario = (conversation) => {
  const lastUser = conversation.messages.findLast((m) => m.role === "user");
  return { text: lastUser && "content" in lastUser ? (lastUser.content ?? "") : "" };
};

export const BUILTIN_SCENARIOS: Record<string, Scenario> = { demo: demoScenario, echo: echoScenario };
