import { describe, expect, it } from "vitest";
import { kubernetesSecrets, publicKeyVariable } from "./credentials.ts";

describe("toolformer credentials", () => {
  it("prints the servers' public keys and one seed Secret per role, as nats/users.conf names them", () => {
    const text = kubernetesSecrets(
      [
        { role: "rate-limiter", seed: "SUAAA", publicKey: "UAAA" },
        { role: "admin", seed: "SUBBB", publicKey: "UBBB" },
      ],
      "toolformer",
    );
    const documents = text.trim().split("\n---\n");
    expect(documents).toHaveLength(3);
    expect(documents[0]).toContain("name: toolformer-nats-users\n  namespace: toolformer");
    expect(documents[0]).toContain('  TF_NKEY_RATE_LIMITER: "UAAA"\n  TF_NKEY_ADMIN: "UBBB"');
    expect(documents[1]).toContain("name: toolformer-nkey-rate-limiter");
    expect(documents[1]).toMatch(/stringData:\n {2}seed.nk: "SUAAA"$/);
    expect(publicKeyVariable("tool-provider")).toBe("TF_NKEY_TOOL_PROVIDER");
  });
});
