import { toolCallId, type Turn } from "./scenario.ts";

/** One step of a streamed answer, before it is rendered in a provider's event shapes. */
export type Piece =
  | { kind: "text"; text: string }
  | { kind: "toolStart"; index: number; id: string; name: string }
  | { kind: "toolArgs"; index: number; json: string }
  | { kind: "toolEnd"; index: number };

const TEXT_SLICE_CHARS = 24;
const ARGS_SLICE_CHARS = 12;

function slices(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** The turn as the sequence a real model streams: text first, then each tool call's name and arguments in pieces. */
export function planPieces(turn: Turn, idPrefix: string): Piece[] {
  const pieces: Piece[] = slices(turn.text ?? "", TEXT_SLICE_CHARS).map((text) => ({ kind: "text", text }));
  (turn.toolCalls ?? []).forEach((call, index) => {
    pieces.push({ kind: "toolStart", index, id: toolCallId(call, idPrefix), name: call.name });
    for (const json of slices(JSON.stringify(call.arguments ?? {}), ARGS_SLICE_CHARS))
      pieces.push({ kind: "toolArgs", index, json });
    pieces.push({ kind: "toolEnd", index });
  });
  return pieces;
}

/** About four characters a token, as the real tokenizers average. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

export function piecesTokens(piece: Piece): number {
  switch (piece.kind) {
    case "text":
      return estimateTokens(piece.text);
    case "toolArgs":
      return estimateTokens(piece.json);
    case "toolStart":
      return estimateTokens(piece.name);
    case "toolEnd":
      return 0;
  }
}
