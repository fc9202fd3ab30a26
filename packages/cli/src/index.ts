// For tools that run the stack themselves (the benchmarks); the command is bin/toolformer.mjs.
export {
  ACTOR_MALLOC_ENV,
  ACTOR_NODE_FLAGS,
  spawnActors,
  type ActorCopy,
  type ActorProcesses,
  type CopyExit,
  type SpawnOptions,
} from "./actor-processes.ts";
export { waitForActors } from "./readiness.ts";
export { ACTOR_NAMES, type ActorName } from "./commands/actor.ts";
export { kubernetesSecrets, nkeySecretName, NATS_USERS_SECRET, publicKeyVariable } from "./commands/credentials.ts";
