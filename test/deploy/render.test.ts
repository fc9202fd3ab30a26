import { describe, expect, it } from "vitest";
import { NATS_USERS_SECRET, nkeySecretName } from "@toolformer/cli";
import { CONSUMERS, STREAMS } from "@toolformer/protocol";
import { DEFAULT_STOP_GRACE_MS } from "@toolformer/runtime";
import { byKind, K8S, named, render, type Manifest } from "./manifests.ts";
import { podSpecOf, restrictedViolations } from "./pod-security.ts";
import { schemaErrors } from "./schema.ts";
import { join } from "node:path";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const ACTORS = ["dispatcher", "scheduler", "rate-limiter", "speculation", "executor"] as const;
/** What a stopping copy may take: its handlers' grace, then a 2 s hand-back and a 2 s ack per message. */
const HAND_BACK_MS = DEFAULT_STOP_GRACE_MS + 4_000;
const EXAMPLE_TOOLS = ["get_weather", "calculator", "sleep", "echo", "fail"];

const overlays: [string, () => Manifest[]][] = [
  ["local", () => render(join(K8S, "overlays", "local"))],
  ["prod", () => render(join(K8S, "overlays", "prod"))],
  ["prod-cpu-hpa", () => render(join(K8S, "overlays", "prod-cpu-hpa"))],
];
const GIB = 1024 ** 3;
const bytesOf = (size: string) => {
  const match = /^(\d+)(Gi|GB|G)$/.exec(size);
  if (!match) throw new Error(`unexpected size ${size}`);
  return Number(match[1]) * GIB;
};
const labelsMatch = (selector: Json, labels: Json) =>
  Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value) &&
  (selector.matchExpressions ?? []).every((e: Json) =>
    e.operator === "In"
      ? e.values.includes(labels[e.key])
      : e.operator === "NotIn"
        ? !e.values.includes(labels[e.key])
        : true,
  );

describe.each(overlays)("the %s overlay, rendered by kubectl kustomize", (overlay, renderOverlay) => {
  const manifests = renderOverlay();
  const workloads = manifests.filter((m) => podSpecOf(m) !== undefined);
  const pod = (m: Manifest): Json => podSpecOf(m)!;
  const actor = (name: string) => named(manifests, "Deployment", `toolformer-${name}`);

  it("is valid against the Kubernetes (and KEDA) schemas", () => {
    expect(schemaErrors(manifests)).toEqual([]);
  });

  it("passes Pod Security 'restricted' in every pod, in a namespace that enforces it", () => {
    expect(workloads.length).toBeGreaterThanOrEqual(7);
    expect(workloads.flatMap((m) => restrictedViolations(pod(m), `${m.kind} ${m.metadata.name}`))).toEqual([]);
    const namespace = byKind(manifests, "Namespace")[0];
    expect(namespace?.metadata.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    expect(manifests.filter((m) => m.kind !== "Namespace").every((m) => m.metadata.namespace === "toolformer")).toBe(
      true,
    );
  });

  it("runs each actor as its own Deployment with its own role's key, probes that mean something, resources", () => {
    for (const name of ACTORS) {
      const spec = pod(actor(name));
      const [container] = spec.containers;
      expect(container.args).toEqual(["actor", name]);
      expect(spec.volumes).toContainEqual({
        name: "nkey",
        secret: { secretName: nkeySecretName(name), optional: false },
      });
      expect(container.env).toContainEqual({ name: "NATS_NKEY", value: "/etc/toolformer/nats/seed.nk" });
      expect(container.startupProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
      expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
      expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
      expect(container.ports).toContainEqual({ name: "metrics", containerPort: 9464 });
      expect(container.resources.requests.cpu).toBeDefined();
      expect(container.resources.limits.memory).toBeDefined();
      expect(spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(HAND_BACK_MS);
      expect(spec.affinity.podAntiAffinity).toBeDefined();
      // The uid the image's compile cache was filled as (ADR 0040): another misses it.
      expect(spec.securityContext).toMatchObject({ runAsUser: 1000, runAsGroup: 1000 });
      expect(named(manifests, "PodDisruptionBudget", `toolformer-${name}`).spec).toMatchObject({ maxUnavailable: 1 });
      // Every ConfigMap it reads is in the render; Secrets are the credentials' and the providers' keys.
      for (const from of container.envFrom) {
        if (from.configMapRef) expect(named(manifests, "ConfigMap", from.configMapRef.name)).toBeDefined();
        if (from.secretRef) expect(from.secretRef).toEqual({ name: "toolformer-provider-keys", optional: true });
      }
    }
    const provision = named(manifests, "Job", "toolformer-provision");
    expect(pod(provision).containers[0].args).toEqual(["provision"]);
    expect(pod(provision).volumes).toContainEqual({
      name: "nkey",
      secret: { secretName: nkeySecretName("admin"), optional: false },
    });
  });

  it("runs NATS as a StatefulSet: every write synced, lame duck on stop, a volume the store fits in, a quorum budget", () => {
    const nats = named(manifests, "StatefulSet", "nats");
    const replicas = overlay === "local" ? 1 : 3;
    expect(nats.spec).toMatchObject({ replicas });
    const config = String(
      (named(manifests, "ConfigMap", pod(nats).volumes[0].configMap.name) as Json).data["nats.conf"],
    );
    expect(config).toMatch(/^\s*sync_interval: always$/m);
    expect(config).toMatch(/^include \.\/users\.conf$/m);
    const toolformerConfig = byKind(manifests, "ConfigMap").find((m) =>
      m.metadata.name.startsWith("toolformer-config"),
    );
    expect((toolformerConfig as Json).data.TF_REPLICAS).toBe(String(replicas));
    if (replicas === 3) expect(config.match(/nats-route:\/\//g)).toHaveLength(3);
    const [container] = pod(nats).containers;
    expect(container.lifecycle.preStop.exec.command.join(" ")).toContain("--signal ldm=/var/run/nats/nats.pid");
    expect(config).toMatch(/^pid_file: \/var\/run\/nats\/nats.pid$/m);
    const lameDuckS =
      Number(/lame_duck_duration: (\d+)s/.exec(config)?.[1]) +
      Number(/lame_duck_grace_period: (\d+)s/.exec(config)?.[1]);
    expect(pod(nats).terminationGracePeriodSeconds).toBeGreaterThan(lameDuckS);
    expect(container.envFrom).toContainEqual({ secretRef: { name: NATS_USERS_SECRET } });
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"])
      expect(container[probe].httpGet.port).toBe("monitor");
    const volumeBytes = bytesOf((nats.spec as Json).volumeClaimTemplates[0].spec.resources.requests.storage);
    const storeBytes = bytesOf(/max_file_store: (\S+)/.exec(config)![1]!);
    expect(storeBytes).toBeLessThan(volumeBytes);
    expect(storeBytes).toBeGreaterThanOrEqual(7 * GIB); // provision's default caps, which JetStream reserves
    expect(named(manifests, "PodDisruptionBudget", "nats").spec).toMatchObject({ maxUnavailable: 1 });
    const service = named(manifests, "Service", "nats");
    expect((service.spec as Json).ports).toContainEqual({ name: "monitor", port: 8222 });
  });

  it("lets actors reach NATS and DNS only, and the model endpoints only from the dispatcher and speculation", () => {
    const policies = byKind(manifests, "NetworkPolicy");
    const policiesOf = (labels: Json) => policies.filter((p) => labelsMatch((p.spec as Json).podSelector, labels));
    for (const m of workloads) {
      const labels = (m.spec as Json).template.metadata.labels;
      const types = new Set(policiesOf(labels).flatMap((p) => (p.spec as Json).policyTypes));
      expect([m.metadata.name, [...types].sort()]).toEqual([m.metadata.name, ["Egress", "Ingress"]]);
    }
    for (const name of ACTORS) {
      const labels = (actor(name).spec as Json).template.metadata.labels;
      const egress = policiesOf(labels).flatMap((p) => (p.spec as Json).egress ?? []);
      const reachesModels = egress.some((rule: Json) =>
        rule.to.some(
          (peer: Json) => peer.ipBlock || peer.podSelector?.matchLabels?.["app.kubernetes.io/name"] === "fake-llm",
        ),
      );
      expect([name, reachesModels]).toEqual([name, name === "dispatcher" || name === "speculation"]);
      for (const rule of egress) {
        const ports = rule.ports.map((p: Json) => p.port).sort();
        const peer = rule.to[0];
        if (peer.podSelector?.matchLabels?.["app.kubernetes.io/name"] === "nats") expect(ports).toEqual([4222]);
        else if (peer.podSelector?.matchLabels?.["k8s-app"] === "kube-dns") expect(ports).toEqual([53, 53]);
        else expect(ports).toEqual(peer.ipBlock ? [443] : [8080]);
      }
    }
    const nats = named(manifests, "NetworkPolicy", "nats").spec as Json;
    const monitoring = nats.ingress.find((rule: Json) => rule.ports[0].port === 8222);
    expect(monitoring.from).toContainEqual({
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "keda" } },
    });
  });

  if (overlay === "prod")
    it("scales executors, dispatchers and schedulers with KEDA on the lag of their own durables", () => {
      const scaled = byKind(manifests, "ScaledObject");
      const triggers = (name: string) =>
        (named(manifests, "ScaledObject", `toolformer-${name}`).spec as Json).triggers.map((t: Json) => {
          expect(t.type).toBe("nats-jetstream");
          expect(t.metadata.natsServerMonitoringEndpoint).toBe("nats.toolformer.svc.cluster.local:8222");
          expect(t.metadata.account).toBe("$G");
          return `${t.metadata.stream}/${t.metadata.consumer}`;
        });
      expect(scaled.map((s) => (s.spec as Json).scaleTargetRef.name).sort()).toEqual([
        "toolformer-dispatcher",
        "toolformer-executor",
        "toolformer-scheduler",
      ]);
      expect(triggers("executor")).toEqual(
        EXAMPLE_TOOLS.map((tool) => `${STREAMS.exec.name}/${CONSUMERS.executorForTool(tool)}`),
      );
      expect(triggers("dispatcher")).toEqual([`${STREAMS.requests.name}/${CONSUMERS.dispatcherRunner}`]);
      expect(triggers("scheduler")).toEqual([`${STREAMS.rounds.name}/${CONSUMERS.scheduler}`]);
      expect(byKind(manifests, "HorizontalPodAutoscaler")).toEqual([]);
      expect(pod(actor("executor")).containers[0].image).toBe("registry.example.com/toolformer:0.1.0");
    });

  if (overlay === "prod-cpu-hpa")
    it("falls back to CPU HorizontalPodAutoscalers, and no ScaledObject fights them", () => {
      expect(byKind(manifests, "ScaledObject")).toEqual([]);
      const hpas = byKind(manifests, "HorizontalPodAutoscaler").map((h) => (h.spec as Json).scaleTargetRef.name);
      expect(hpas.sort()).toEqual(["toolformer-dispatcher", "toolformer-executor", "toolformer-scheduler"]);
    });
});
