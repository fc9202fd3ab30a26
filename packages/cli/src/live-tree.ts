import { RequestViews } from "@toolformer/dashboard";
import type { OrchestrateEvent } from "@toolformer/protocol";
import { renderRequestTree } from "./request-tree.ts";

/** How often the tree is drawn again (the spinners turn and the times count at this pace). */
export const REDRAW_EVERY_MS = 100;

/** Where the tree is drawn: a terminal (its width, when known, keeps lines from wrapping). */
export interface TreeOutput {
  write(text: string): void;
  columns?: number;
}

/** From the start of the line `lines` lines up, the screen cleared below: where a redraw begins (ANSI). */
export function redrawFrom(lines: number): string {
  return `${lines > 0 ? `\x1b[${lines}F` : "\r"}\x1b[J`;
}

/**
 * One request's tree, drawn again in place every REDRAW_EVERY_MS from the events applied to it, with
 * notes (such as "cancelling") under it, until `stop`.
 */
export class LiveTree {
  readonly #views = new RequestViews(1);
  readonly #requestId: string;
  readonly #out: TreeOutput;
  readonly #notes: string[] = [];
  #drawn = 0;
  #tick = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(requestId: string, out: TreeOutput) {
    this.#requestId = requestId;
    this.#out = out;
  }

  start(): void {
    this.#draw();
    this.#timer = setInterval(() => this.#draw(), REDRAW_EVERY_MS);
  }

  apply(event: OrchestrateEvent): void {
    if (event.requestId === this.#requestId) this.#views.apply(event);
  }

  note(line: string): void {
    this.#notes.push(line);
  }

  /** Draws the tree a last time; later calls do nothing (what is printed after it stays). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#draw();
  }

  #draw(): void {
    const lines = [
      ...renderRequestTree(this.#views.get(this.#requestId), {
        now: Date.now(),
        tick: this.#tick++,
        ...(this.#out.columns === undefined ? {} : { columns: this.#out.columns }),
      }),
      ...this.#notes,
    ];
    this.#out.write(`${redrawFrom(this.#drawn)}${lines.join("\n")}\n`);
    this.#drawn = lines.length;
  }
}
