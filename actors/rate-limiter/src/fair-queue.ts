export interface Queued {
  tenant: string;
  /** 0-9, higher first. */
  priority: number;
  /** When the caller first asked, epoch ms. */
  since: number;
}

/**
 * One scope's waiting line: tenants take turns (a tenant flooding the scope gets one grant per turn,
 * like every other tenant waiting); within a tenant, higher priority goes first, ties first-come
 * first-served. Priority ages: every `agingMs` waited counts as one level more, so a low-priority call
 * is never starved by a stream of high-priority ones.
 */
export class FairQueue<W extends Queued> {
  /** Waiting calls by tenant; the map's order is the turn order (the first tenant is served next). */
  readonly #byTenant = new Map<string, W[]>();
  readonly #agingMs: number;
  #size = 0;

  constructor(agingMs: number) {
    this.#agingMs = agingMs;
  }

  get size(): number {
    return this.#size;
  }

  add(waiter: W): void {
    const line = this.#byTenant.get(waiter.tenant);
    if (line) line.push(waiter);
    else this.#byTenant.set(waiter.tenant, [waiter]);
    this.#size++;
  }

  /** Who is served next. */
  peek(now: number): W | undefined {
    return this.peekMany(now, 1)[0];
  }

  /** The next `count` to be served, in serving order (tenants in turn, each tenant's best first). */
  peekMany(now: number, count: number): W[] {
    const rank = (w: W) => w.priority + Math.floor((now - w.since) / this.#agingMs);
    const lines = [...this.#byTenant.values()].map((line) =>
      [...line].sort((a, b) => rank(b) - rank(a) || a.since - b.since),
    );
    const order: W[] = [];
    for (let turn = 0; order.length < count; turn++) {
      let any = false;
      for (const line of lines) {
        const next = line[turn];
        if (!next) continue;
        any = true;
        order.push(next);
        if (order.length === count) break;
      }
      if (!any) break;
    }
    return order;
  }

  /** Takes a waiter out of the line (cancelled, timed out, moved); true when it was there. */
  remove(waiter: W): boolean {
    const line = this.#byTenant.get(waiter.tenant);
    const index = line?.indexOf(waiter) ?? -1;
    if (!line || index < 0) return false;
    line.splice(index, 1);
    if (line.length === 0) this.#byTenant.delete(waiter.tenant);
    this.#size--;
    return true;
  }

  /** Takes a served waiter out and sends its tenant to the back of the turn order. */
  served(waiter: W): void {
    if (!this.remove(waiter)) return;
    const line = this.#byTenant.get(waiter.tenant);
    if (!line) return;
    this.#byTenant.delete(waiter.tenant);
    this.#byTenant.set(waiter.tenant, line);
  }

  *[Symbol.iterator](): IterableIterator<W> {
    for (const line of this.#byTenant.values()) yield* line;
  }
}
