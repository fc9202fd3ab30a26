/** Bounds how many handlers run at once; waiters are served in arrival order. */
export class Semaphore {
  #available: number;
  readonly #waiters: ((granted: boolean) => void)[] = [];

  constructor(permits: number) {
    this.#available = permits;
  }

  /** Resolves true with a permit, or false without one once `signal` fires (a stopping consumer). */
  async acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return false;
    if (this.#available > 0) {
      this.#available--;
      return true;
    }
    return new Promise<boolean>((resolve) => {
      const waiter = (granted: boolean) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(granted);
      };
      const onAbort = () => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        waiter(false);
      };
      this.#waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Takes up to `max` permits that are free now, without waiting; returns how many it took. */
  tryAcquire(max: number): number {
    const taken = Math.max(0, Math.min(max, this.#available));
    this.#available -= taken;
    return taken;
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next(true);
    else this.#available++;
  }
}
