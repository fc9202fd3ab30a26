/** Actor names and the module that runs each on its own (what a container's command runs). */
export const ACTOR_MAINS = {
  dispatcher: () => import("@toolformer/dispatcher/main"),
  scheduler: () => import("@toolformer/scheduler/main"),
  "rate-limiter": () => import("@toolformer/rate-limiter/main"),
  speculation: () => import("@toolformer/speculation/main"),
  executor: () => import("@toolformer/executor/main"),
} as const;
export type ActorName = keyof typeof ACTOR_MAINS;
export const ACTOR_NAMES = Object.keys(ACTOR_MAINS) as ActorName[];

export function isActorName(name: string | undefined): name is ActorName {
  return name !== undefined && Object.hasOwn(ACTOR_MAINS, name);
}

/** Runs one actor in this process until SIGTERM/SIGINT (the actor's main installs the handlers). */
export async function runActorCommand(name: string | undefined): Promise<number> {
  if (!isActorName(name)) {
    console.error(`toolformer actor <name>: one of ${ACTOR_NAMES.join(", ")}`);
    return 2;
  }
  await ACTOR_MAINS[name]();
  return 0;
}
