import { settleAll } from "@toolformer/runtime";

/**
 * Two steps per item: every item's `first` starts at once, in the items' order; an item's `then` starts
 * once its own `first` has succeeded and the item before it has started its `then`, so the second steps
 * start in the items' order, each as early as its own first step allows. Once a first step fails, no
 * later item starts its second step. Settles when everything started has settled: with the first
 * failure, if any, so a failure leaves nothing in flight.
 */
export async function pipelineInOrder<T>(
  items: readonly T[],
  first: (item: T) => Promise<unknown>,
  then: (item: T) => Promise<unknown>,
): Promise<void> {
  const firsts = items.map(first);
  const seconds: Promise<unknown>[] = [];
  let started: Promise<unknown> = Promise.resolve();
  for (const [index, item] of items.entries())
    started = Promise.all([firsts[index], started]).then(() => void seconds.push(then(item)));
  await Promise.allSettled([...firsts, started]);
  // Every second step that will ever start has started by now.
  await settleAll([...firsts, started, ...seconds]);
}
