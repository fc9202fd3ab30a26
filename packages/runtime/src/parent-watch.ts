/** How often a copy started by another process looks whether that process is still there. */
const PARENT_CHECK_MS = 1_000;

/**
 * Calls `onGone` once, when the process that started this one has died. A copy started by `toolformer
 * up`, a benchmark or a test (`spawnActors` names its own pid in TF_PARENT_PID) so stops with it, rather
 * than living on as an orphan that redials a server that went with its parent: a parent killed by a
 * signal gets no chance to stop its children. On Linux an orphan is adopted by init (or a subreaper),
 * so its `ppid` changes. Where nothing sets the variable (a container under Kubernetes) nothing is watched.
 */
export function watchParent(parentPid: number | undefined, onGone: () => void): void {
  if (parentPid === undefined) return;
  const timer = setInterval(() => {
    if (process.ppid === parentPid) return;
    clearInterval(timer);
    onGone();
  }, PARENT_CHECK_MS);
  timer.unref();
}
