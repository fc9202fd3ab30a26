export { publishExec } from "./exec-calls.ts";
export { argumentChecker, argumentProblems } from "./argument-schema.ts";
export { ApprovalStore, type DecideOutcome, type WaitingApproval } from "./approval-store.ts";
