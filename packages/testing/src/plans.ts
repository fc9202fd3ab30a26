/**
 * Tool-call plans (LLMCompiler-style graphs) for tests and benchmarks: each node is a `sleep` call of
 * known length that names the results of the nodes it depends on, so the fastest possible run of the
 * plan is known in advance.
 */

export interface PlanNode {
  id: string;
  /** How long the node's tool call takes. */
  ms: number;
  /** Nodes whose results this node's arguments reference. */
  deps: string[];
}

/** The longest chain of node lengths: no schedule can run the plan faster. */
export function criticalPathMs(nodes: readonly PlanNode[]): number {
  const finish = new Map<string, number>();
  const finishOf = (node: PlanNode): number => {
    const known = finish.get(node.id);
    if (known !== undefined) return known;
    const deps = node.deps.map((id) => finishOf(nodes.find((n) => n.id === id)!));
    const end = node.ms + Math.max(0, ...deps);
    finish.set(node.id, end);
    return end;
  };
  return Math.max(0, ...nodes.map(finishOf));
}

/** A seeded random DAG: each node takes `minMs`..`maxMs` and depends on up to two earlier nodes. */
export function randomDag(seed: number, size: number, minMs: number, maxMs: number): PlanNode[] {
  let state = seed;
  const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: size }, (_, i) => {
    const ms = minMs + Math.floor(next() * (maxMs - minMs));
    const picks = i === 0 ? [] : [Math.floor(next() * i), Math.floor(next() * i)];
    const deps = [...new Set(picks)].slice(0, 1 + Math.floor(next() * 2));
    return { id: `n${i}`, ms, deps: deps.map((d) => `n${d}`) };
  });
}

/** The plan as the model's tool calls (for the fake model's scenarios): `sleep` calls naming their dependencies. */
export function planToolCalls(nodes: readonly PlanNode[]) {
  return nodes.map((node) => ({
    id: node.id,
    name: "sleep",
    arguments: { ms: node.ms, value: node.deps.map((dep) => ({ $ref: `${dep}#/sleptMs` })) },
  }));
}
