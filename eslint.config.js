// Type-aware lint for every workspace; run per package by turbo (`npm run check`).
import tseslint from "typescript-eslint";

const ACTORS = ["dispatcher", "scheduler", "rate-limiter", "speculation", "executor"];

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/dist/**", "docs/**", "deploy/**"] },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
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
);
