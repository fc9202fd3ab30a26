import { existsSync, readdirSync, readFileSync } from "node:fs";
import { flushCompileCache, getCompileCacheDir } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The workspace root: packages/cli/src/commands -> the directory of the root package.json. */
const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const CLI_PACKAGE = "@toolformer/cli";

/**
 * `toolformer compile-cache`: compiles every module of the workspaces the command runs (the CLI's own
 * and what it depends on, tests left out) into Node's compile cache, the types of each TypeScript module
 * stripped, without running any. A later process of the same Node, node flags and user that finds every
 * module it loads there never loads the type stripper (~10 MB per process, ADR 0040). The image runs it
 * at build time, since each container starts with an empty temporary directory.
 */
export async function runCompileCacheCommand(): Promise<number> {
  const cacheDir = getCompileCacheDir();
  if (cacheDir === undefined) {
    console.error("compile-cache: Node's compile cache is off (NODE_DISABLE_COMPILE_CACHE?)");
    return 1;
  }
  const files = workspaceModules(ROOT);
  const failures: string[] = [];
  for (const file of files) {
    const failure = await compileWithoutRunning(file);
    if (failure !== undefined) failures.push(`${file}: ${failure}`);
  }
  flushCompileCache();
  for (const failure of failures) console.error(`compile-cache: ${failure}`);
  console.log(`compiled ${files.length - failures.length} of ${files.length} modules into ${cacheDir}`);
  return failures.length === 0 ? 0 : 1;
}

/** The name nothing exports: importing it makes linking fail once the whole graph is loaded. */
const NOT_EXPORTED = "__toolformer_compile_only__";

/**
 * Loads and compiles `file` and everything it imports, and runs none of it: the module that imports it
 * also asks an empty module for a name it lacks, and ESM links (and fails) only after every module of the
 * graph is loaded and compiled, and before any runs. Undefined when that is how it failed.
 */
async function compileWithoutRunning(file: string): Promise<string | undefined> {
  const target = JSON.stringify(pathToFileURL(file).href);
  const entry = `import ${target}; import { ${NOT_EXPORTED} } from "data:text/javascript,";`;
  try {
    await import(`data:text/javascript,${encodeURIComponent(entry)}`);
    return "it ran (it should only have been compiled)";
  } catch (error) {
    if (error instanceof SyntaxError && error.message.includes(NOT_EXPORTED)) return undefined;
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Every TypeScript module under `src` of the CLI's workspace and of the workspaces it depends on,
 * directly or not, tests (`*.test.ts`) left out.
 */
export function workspaceModules(root: string): string[] {
  const byName = workspacesByName(root);
  const wanted = new Set<string>();
  const visit = (name: string) => {
    const dir = byName.get(name);
    if (dir === undefined || wanted.has(dir)) return;
    wanted.add(dir);
    const manifest = readManifest(dir);
    for (const dependency of Object.keys(manifest.dependencies ?? {})) visit(dependency);
  };
  visit(CLI_PACKAGE);
  return [...wanted].flatMap((dir) => typeScriptModules(join(dir, "src"))).sort();
}

interface Manifest {
  name?: string;
  workspaces?: string[];
  dependencies?: Record<string, string>;
}

const readManifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest;

/** The root manifest's workspaces (`dir` or `dir/*`) that exist here, by package name. */
function workspacesByName(root: string): Map<string, string> {
  const dirs = (readManifest(root).workspaces ?? []).flatMap((pattern) => {
    if (!pattern.endsWith("/*")) return [resolve(root, pattern)];
    const parent = resolve(root, pattern.slice(0, -2));
    if (!existsSync(parent)) return [];
    return readdirSync(parent, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(parent, entry.name));
  });
  const byName = new Map<string, string>();
  for (const dir of dirs) {
    if (!existsSync(join(dir, "package.json"))) continue;
    const { name } = readManifest(dir);
    if (name !== undefined) byName.set(name, dir);
  }
  return byName;
}

function typeScriptModules(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts"))
    .map((entry) => join(entry.parentPath, entry.name));
}
