/**
 * A flag that live messages set and a reader waits on: rings while nobody waits are kept (one or many
 * alike), so a message heard while the reader was busy is not missed.
 */
export class Doorbell {
  #rung = false;
  #wake: (() => void) | undefined;

  ring(): void {
    this.#rung = true;
    this.#wake?.();
  }

  /** Whether it rang (now or since the last wait) before `ms` passed or `signal` aborted; a ring is heard once. */
  async wait(ms: number, signal: AbortSignal): Promise<boolean> {
    if (!this.#rung && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          this.#wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener("abort", done, { once: true });
        this.#wake = done;
      });
    }
    const rung = this.#rung;
    this.#rung = false;
    return rung;
  }
}
