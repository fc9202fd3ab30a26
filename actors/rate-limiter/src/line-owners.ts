import { hash32 } from "@toolformer/protocol";

/**
 * Which limiter copy owns which line, as one copy sees it: every copy it heard from lately (itself
 * included), and for each line the copy that ranks first for it (rendezvous hashing). Copies that hear
 * the same members agree without talking further; when one comes or goes, only its share of the lines
 * moves. While two copies disagree, a line has two owners or none for a moment: harmless, because the
 * shared state decides every grant and callers fall back to any copy when a line has no owner.
 */
export class LineOwners {
  readonly #selfId: string;
  readonly #lines: number;
  readonly #expiryMs: number;
  /** Member id -> when it was last heard from, epoch ms. */
  readonly #lastHeard = new Map<string, number>();

  constructor(selfId: string, lines: number, expiryMs: number) {
    this.#selfId = selfId;
    this.#lines = lines;
    this.#expiryMs = expiryMs;
  }

  /** Notes that a copy is alive; true when it was not known (it should hear from us soon). */
  heard(id: string, now: number): boolean {
    const known = this.#lastHeard.has(id);
    this.#lastHeard.set(id, now);
    return !known && id !== this.#selfId;
  }

  /** A copy said it is leaving. */
  left(id: string): void {
    if (id !== this.#selfId) this.#lastHeard.delete(id);
  }

  /** Forgets copies not heard from in a while (they died without saying so). */
  expire(now: number): void {
    for (const [id, at] of this.#lastHeard)
      if (id !== this.#selfId && now - at > this.#expiryMs) this.#lastHeard.delete(id);
  }

  get members(): string[] {
    return [...new Set([this.#selfId, ...this.#lastHeard.keys()])].sort();
  }

  /** The lines this copy owns. */
  owned(): Set<number> {
    const members = this.members;
    const mine = new Set<number>();
    for (let line = 0; line < this.#lines; line++) if (ownerOf(line, members) === this.#selfId) mine.add(line);
    return mine;
  }
}

/** The member that ranks first for a line. */
export function ownerOf(line: number, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestRank = -1;
  for (const member of members) {
    const rank = hash32(`${member}/${line}`);
    if (rank > bestRank || (rank === bestRank && best !== undefined && member < best)) {
      best = member;
      bestRank = rank;
    }
  }
  return best;
}
