import { describe, expect, it } from "vitest";
import { resolveMcpHeaders, type SecretSources } from "./mcp-headers.ts";

const files: Record<string, string> = { "/run/secrets/token": "s3cret\n" };
const sources: SecretSources = {
  env: { SEARCH_KEY: "k3y" },
  readFile(path) {
    const content = files[path];
    if (content === undefined) throw new Error(`ENOENT: ${path}`);
    return content;
  },
};

describe("an MCP server's headers", () => {
  it("are plain values, or secrets from the environment or a file, with an optional prefix", () => {
    expect(
      resolveMcpHeaders(
        {
          "X-Team": "agents",
          "X-Api-Key": { env: "SEARCH_KEY" },
          Authorization: { file: "/run/secrets/token", prefix: "Bearer " },
        },
        sources,
      ),
    ).toEqual({ "X-Team": "agents", "X-Api-Key": "k3y", Authorization: "Bearer s3cret" });
    expect(resolveMcpHeaders(undefined, sources)).toEqual({});
  });

  it("name the missing secret's source, never a value", () => {
    expect(() => resolveMcpHeaders({ "X-Api-Key": { env: "NOPE" } }, sources)).toThrow(
      "the header X-Api-Key needs $NOPE, which is not set",
    );
    expect(() => resolveMcpHeaders({ Authorization: { file: "/run/secrets/gone" } }, sources)).toThrow(
      "the header Authorization needs /run/secrets/gone, which is not set",
    );
  });
});
