/** What every predictor produces: a call it expects the model to ask for, and how sure it is (0..1). */
export interface Prediction {
  tool: string;
  args: unknown;
  confidence: number;
  predictor: string;
}

export const Predictor = {
  /** Learned online from finished requests, shared by every copy through KV. */
  history: "history",
  /** A cheaper model asked the same question as the main model, in parallel with it. */
  fastModel: "fast-model",
} as const;
