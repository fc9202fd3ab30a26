/**
 * Builds @toolformer/client as a package anyone can install: the client and the protocol it speaks
 * (the workspace's own package, carried inside) compiled to JavaScript with `.d.ts`, a package.json
 * with `exports`, and the README. `--pack DIR` then writes the npm tarball into DIR and prints its path.
 * The workspace itself runs the TypeScript sources; only this build emits.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";

const PACKAGES = join(import.meta.dirname, "..", "..");
const CLIENT = join(PACKAGES, "client");
const PROTOCOL = join(PACKAGES, "protocol");
const BUILD = join(CLIENT, "build");
const DIST = join(BUILD, "dist");
/** Where the compiled protocol lands, as the compiled client imports it. */
const PROTOCOL_ENTRY = "../../protocol/src/index.js";

interface PackageJson {
  name: string;
  version: string;
  description: string;
  dependencies?: Record<string, string>;
}
const readPackage = (dir: string) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as PackageJson;

function compile(): void {
  const tsconfig = join(BUILD, "tsconfig.json");
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: relative(BUILD, join(PACKAGES, "..", "tsconfig.base.json")),
      compilerOptions: {
        noEmit: false,
        declaration: true,
        rewriteRelativeImportExtensions: true,
        rootDir: relative(BUILD, PACKAGES),
        outDir: "dist",
        paths: { "@toolformer/protocol": [relative(BUILD, join(PROTOCOL, "src", "index.ts"))] },
      },
      files: [relative(BUILD, join(CLIENT, "src", "index.ts"))],
    }),
  );
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", tsconfig], { stdio: "inherit" });
  rmSync(tsconfig);
  // tsc keeps a path-mapped specifier as written: point it at the protocol compiled beside the client.
  const clientOut = join(DIST, "client", "src");
  for (const file of readdirSync(clientOut)) {
    const path = join(clientOut, file);
    writeFileSync(path, readFileSync(path, "utf8").replaceAll('"@toolformer/protocol"', `"${PROTOCOL_ENTRY}"`));
  }
}

/** The dependencies of the client and the protocol, without the workspace's own packages. */
function dependencies(): Record<string, string> {
  const all = { ...readPackage(PROTOCOL).dependencies, ...readPackage(CLIENT).dependencies };
  return Object.fromEntries(Object.entries(all).filter(([name]) => !name.startsWith("@toolformer/")));
}

function writeManifest(): void {
  const client = readPackage(CLIENT);
  const types = "./dist/client/src/index.d.ts";
  const manifest = {
    name: client.name,
    version: client.version,
    description: client.description,
    license: "MIT",
    type: "module",
    exports: { ".": { types, default: "./dist/client/src/index.js" } },
    types,
    files: ["dist", "README.md"],
    engines: { node: ">=22" },
    dependencies: dependencies(),
  };
  writeFileSync(join(BUILD, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  cpSync(join(CLIENT, "README.md"), join(BUILD, "README.md"));
}

rmSync(BUILD, { recursive: true, force: true });
mkdirSync(BUILD, { recursive: true });
compile();
writeManifest();
const packInto = process.argv.indexOf("--pack");
if (packInto >= 0) {
  const destination = process.argv[packInto + 1];
  if (!destination) throw new Error("--pack needs a directory");
  mkdirSync(destination, { recursive: true });
  const output = execFileSync("npm", ["pack", "--silent", "--pack-destination", destination], { cwd: BUILD });
  console.log(join(destination, output.toString().trim().split("\n").at(-1)!));
} else {
  console.log(`built ${BUILD}`);
}
