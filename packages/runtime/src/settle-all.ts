/**
 * Waits for every one of `promises`, then throws the first failure in their order, if any: a caller
 * that fails leaves none of them in flight (a publish still running after its batch reported failure
 * could be stored after whatever the caller does next).
 */
export async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const outcomes = await Promise.allSettled(promises);
  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  if (failed) throw failed.reason;
}
