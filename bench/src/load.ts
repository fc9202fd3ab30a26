/**
 * Runs `total` operations keeping `inFlight` of them going at once (a closed loop: a new one starts
 * when one ends), starting none after `budgetMs` (the ones running are let finish). Returns each
 * operation's latency (ms) and the elapsed wall time.
 */
export async function closedLoop(
  inFlight: number,
  total: number,
  operation: (index: number) => Promise<void>,
  budgetMs = Number.POSITIVE_INFINITY,
): Promise<{ latenciesMs: number[]; elapsedMs: number }> {
  const latenciesMs: number[] = [];
  let started = 0;
  const begin = performance.now();
  const lane = async () => {
    while (started < total && performance.now() - begin < budgetMs) {
      const index = started++;
      const t0 = performance.now();
      await operation(index);
      latenciesMs.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, lane));
  return { latenciesMs, elapsedMs: performance.now() - begin };
}
