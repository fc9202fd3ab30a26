import { setTimeout as sleep } from "node:timers/promises";
import { startFakeLlm, type FakeLlmServer, type NormalizedConversation } from "@toolformer/fake-llm";
import { faultTurn, seedOfConversation, turnIndexOf } from "./scenario.ts";

const SCENARIO = "faults";
/** The model reference requests use: the fake provider, this scenario. */
export const FAULT_MODEL = `fake:${SCENARIO}`;

/** One time the model was asked for a turn, as the model server saw it. */
export interface ModelAsk {
  seed: string;
  /** Assistant messages already in the conversation: 0 for the first turn. */
  turn: number;
  receivedAt: number;
  /** When the answer was handed to the server to send (undefined: never, e.g. the run ended first). */
  respondedAt?: number;
}

export interface FaultModel extends AsyncDisposable {
  server: FakeLlmServer;
  /** Every ask, oldest first. */
  asks: ModelAsk[];
}

/** The fake model server with the fault scenario, logging when each turn was asked and answered. */
export async function startFaultModel(thinkMs: number): Promise<FaultModel> {
  const asks: ModelAsk[] = [];
  const scenario = async (conversation: NormalizedConversation) => {
    const ask: ModelAsk = {
      seed: seedOfConversation(conversation) ?? "?",
      turn: turnIndexOf(conversation),
      receivedAt: Date.now(),
    };
    asks.push(ask);
    // The model's thinking time: a turn is in flight this long, as a real model's would be.
    await sleep(thinkMs);
    const turn = faultTurn(conversation);
    ask.respondedAt = Date.now();
    return turn;
  };
  const server = await startFakeLlm({ scenarios: { [SCENARIO]: scenario } });
  return { server, asks, [Symbol.asyncDispose]: () => server.close() };
}
