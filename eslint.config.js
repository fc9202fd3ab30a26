// Type-aware lint for every workspace, in one run over the tree (`npm run lint`; `npm run check` caches it, ADR 0043).
import tseslint from "typescript-eslint";
import { createNodeResolver, importX } from "eslint-plugin-import-x";

const ACTORS = ["dispatcher", "scheduler", "rate-limiter", "speculation", "executor"];

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/dist/**", "docs/**", "deploy/**"] },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { "import-x": importX },
    settings: {
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js"] })],
    },
    rules: {
      // Dependencies point one way: a module never reaches itself again through its imports.
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      // Async code is the whole system: a promise nobody awaits is a lost error.
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Dependencies point one way, and only through each package's public entry.
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["@toolformer/*/src/*"], message: "import the package's public entry" }] },
      ],
    },
  },
  {
    // No actor imports another actor; nothing below the actors imports them.
    files: [
      "actors/**/*.ts",
      "packages/protocol/**/*.ts",
      "packages/client/**/*.ts",
      "packages/runtime/**/*.ts",
      "packages/tools/**/*.ts",
      "packages/providers/**/*.ts",
    ],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["@toolformer/*/src/*"], message: "import the package's public entry" },
            {
              group: ACTORS.map((a) => `@toolformer/${a}`),
              message: "actors talk over NATS only; share code through packages/",
            },
          ],
        },
      ],
    },
  },
  {
    // The wire and the client sit at the bottom: they import no other package of ours but the protocol.
    files: ["packages/protocol/**/*.ts", "packages/client/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["@toolformer/*/src/*"], message: "import the package's public entry" },
            {
              group: ["@toolformer/*", "!@toolformer/protocol"],
              message: "the protocol and the client depend on nothing of ours but the protocol",
            },
          ],
        },
      ],
    },
  },
);
