/**
 * Runs `total` operations keeping `inFlight` of them going at once (a closed loop: a new one starts
 * when one ends). Returns each operation's latency (ms) and the elapsed wall time; bounded by `total`.
 */
export async function closedLoop(
  inFlight: number,
  total: number,
  operation: (index: number) => Promise<void>,
): Promise<{ latenciesMs: number[]; elapsedMs: number }> {
  const latenciesMs: number[] = [];
  let started = 0;
  const begin = performance.now();
  const lane = async () => {
    while (started < total) {
      const index = started++;
      const t0 = performance.now();
      await operation(index);
      latenciesMs.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, lane));
  return { latenciesMs, elapsedMs: performance.now() - begin };
}
