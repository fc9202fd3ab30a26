export { publishExec } from "./exec-calls.ts";
export { argumentChecker, argumentProblems } from "./argument-schema.ts";
