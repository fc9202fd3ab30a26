export { startFakeLlm, type FakeLlmServer, type FakeLlmOptions, type ReceivedRequest } from "./server.ts";
export {
  loadScenarioFile,
  type Scenario,
  type Turn,
  type NormalizedConversation,
  type NormalizedMessage,
} from "./scenario.ts";
export { BUILTIN_SCENARIOS } from "./builtin.ts";
export { runFakeLlmCli } from "./cli.ts";
