import type { ServiceInfo } from "@nats-io/services";
import { describe, expect, it } from "vitest";
import { MissingRemoteTools, toolsFromServiceInfos } from "./remote-discovery.ts";

function service(name: string, endpoints: ServiceInfo["endpoints"]): ServiceInfo {
  return {
    type: "io.nats.micro.v1.info_response",
    name,
    id: `${name}-1`,
    version: "1.0.0",
    description: "",
    endpoints,
  } as ServiceInfo;
}

describe("toolsFromServiceInfos", () => {
  it("keeps endpoints with toolformer.parameters and reads the optional metadata", () => {
    const { tools, rejected } = toolsFromServiceInfos([
      service("search", [
        {
          name: "web_search",
          subject: "svc.search",
          metadata: {
            "toolformer.parameters": '{"type":"object","properties":{"q":{"type":"string"}}}',
            "toolformer.description": "Search the web",
            "toolformer.idempotent": "true",
            "toolformer.timeout_ms": "5000",
            "toolformer.rate_limit": '{"limit":5,"intervalMs":1000}',
          },
        },
        { name: "health", subject: "svc.health" },
      ]),
    ]);
    expect(rejected).toEqual([]);
    expect([...tools.keys()]).toEqual(["web_search"]);
    expect(tools.get("web_search")).toEqual({
      subject: "svc.search",
      definition: {
        name: "web_search",
        description: "Search the web",
        parameters: { type: "object", properties: { q: { type: "string" } } },
        // `idempotent` alone, as services wrote it before `read_only` existed: retried, never speculated.
        readOnly: false,
        idempotent: true,
        timeoutMs: 5000,
        rateLimit: { limit: 5, intervalMs: 1000 },
        source: "remote",
      },
    });
  });

  it("reads toolformer.read_only as read-only and idempotent, and no key as neither", () => {
    const endpoint = (name: string, extra: Record<string, string>) => ({
      name,
      subject: `svc.${name}`,
      metadata: { "toolformer.parameters": "{}", ...extra },
    });
    const { tools, rejected } = toolsFromServiceInfos([
      service("files", [
        endpoint("stat", { "toolformer.read_only": "true" }),
        endpoint("stat_both", { "toolformer.read_only": "true", "toolformer.idempotent": "true" }),
        endpoint("append", {}),
        endpoint("put", { "toolformer.read_only": "false", "toolformer.idempotent": "true" }),
      ]),
    ]);
    expect(rejected).toEqual([]);
    const effects = (name: string) => {
      const { readOnly, idempotent } = tools.get(name)!.definition;
      return { readOnly, idempotent };
    };
    expect(effects("stat")).toEqual({ readOnly: true, idempotent: true });
    expect(effects("stat_both")).toEqual({ readOnly: true, idempotent: true });
    expect(effects("append")).toEqual({ readOnly: false, idempotent: false });
    expect(effects("put")).toEqual({ readOnly: false, idempotent: true });
  });

  it("refuses a tool that says it is read-only and not idempotent", () => {
    const { tools, rejected } = toolsFromServiceInfos([
      service("odd", [
        {
          name: "odd",
          subject: "svc.odd",
          metadata: {
            "toolformer.parameters": "{}",
            "toolformer.read_only": "true",
            "toolformer.idempotent": "false",
          },
        },
      ]),
    ]);
    expect(tools.size).toBe(0);
    expect(rejected[0]?.reason).toContain("a read-only tool is idempotent too");
  });

  it("reports endpoints with bad metadata instead of offering them", () => {
    const { tools, rejected } = toolsFromServiceInfos([
      service("bad", [
        { name: "broken", subject: "svc.broken", metadata: { "toolformer.parameters": "not json" } },
        { name: "bad limit", subject: "svc.x", metadata: { "toolformer.parameters": "{}" } },
      ]),
    ]);
    expect(tools.size).toBe(0);
    expect(rejected.map((r) => r.endpoint)).toEqual(["broken", "bad limit"]);
  });

  it("does not let a second service take over a tool name", () => {
    const meta = { "toolformer.parameters": "{}" };
    const { tools, rejected } = toolsFromServiceInfos([
      service("a", [{ name: "t", subject: "a.t", metadata: meta }]),
      service("b", [{ name: "t", subject: "b.t", metadata: meta }]),
    ]);
    expect(tools.get("t")?.subject).toBe("a.t");
    expect(rejected).toHaveLength(1);
  });

  it("ignores, and reports, a tool served on the orchestrator's or the system's subjects", () => {
    const tool = (name: string, subject: string) => ({
      name,
      subject,
      metadata: { "toolformer.parameters": '{"type":"object"}' },
    });
    const { tools, rejected } = toolsFromServiceInfos([
      service("rogue", [
        tool("requeue", "tf.request.run.x"),
        tool("cancel_all", "orchestrate.call.cancel.echo"),
        tool("answer", "_INBOX.abc"),
        tool("kv", "$KV.tf_requests.x"),
        tool("fine", "orchestrated.things"),
      ]),
    ]);
    expect([...tools.keys()]).toEqual(["fine"]);
    expect(rejected.map((r) => r.endpoint)).toEqual(["requeue", "cancel_all", "answer", "kv"]);
    expect(rejected[0]?.reason).toMatch(/tf\.request\.run\.x is the orchestrator's or the system's/);
  });
});

describe("MissingRemoteTools", () => {
  it("drops a tool only once it is missing from three rounds in a row", () => {
    const missing = new MissingRemoteTools(3);
    const hosted = ["search", "fetch"];
    expect(missing.gone(hosted, new Set(["fetch"]))).toEqual([]);
    expect(missing.gone(hosted, new Set(["fetch"]))).toEqual([]);
    expect(missing.gone(hosted, new Set(["fetch"]))).toEqual(["search"]);
  });

  it("starts counting again when a tool answers a round", () => {
    const missing = new MissingRemoteTools(3);
    const hosted = ["search"];
    missing.gone(hosted, new Set());
    missing.gone(hosted, new Set());
    expect(missing.gone(hosted, new Set(["search"]))).toEqual([]);
    expect(missing.gone(hosted, new Set())).toEqual([]);
    expect(missing.gone(hosted, new Set())).toEqual([]);
    expect(missing.gone(hosted, new Set())).toEqual(["search"]);
  });
});
