/** The most of `intervals` that overlap at any moment (one ending as another starts does not overlap). */
export function mostAtOnce(intervals: readonly { start: number; end: number }[]): number {
  const points = intervals.flatMap(({ start, end }) => [
    { at: start, step: 1 },
    { at: end, step: -1 },
  ]);
  points.sort((a, b) => a.at - b.at || a.step - b.step);
  let now = 0;
  let most = 0;
  for (const point of points) most = Math.max(most, (now += point.step));
  return most;
}
