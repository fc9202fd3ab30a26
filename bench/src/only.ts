/** The parts of a benchmark `--only a,b` names (all of them without it); an unknown name is an error. */
export function chosenParts<P extends string>(all: readonly P[], only: string | undefined): P[] {
  if (only === undefined) return [...all];
  const names = only.split(",").map((name) => name.trim());
  const unknown = names.filter((name) => !(all as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`--only: unknown ${unknown.join(", ")} (one of ${all.join(", ")})`);
  return names as P[];
}
