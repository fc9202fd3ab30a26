import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { Manifest } from "./manifests.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The rendered local overlay as `podman kube play` (4.3) can run it, changing only what podman lacks:
 * - the NATS StatefulSet and the fake model's Deployment become Pods named as their Services (podman
 *   has no StatefulSet or Service; a pod's name is its DNS name on the network, so `nats://nats:4222`
 *   and `http://fake-llm:8080` work unchanged), the volume claim an emptyDir; the provision Job
 *   becomes a Pod that restarts on failure;
 * - Secrets are read from files the test writes: podman 4.3 mounts a Secret's base64 text rather than
 *   its value, so a secret volume becomes a host folder with the decoded files, and a Secret's envFrom
 *   becomes env (the test's own change: Pod Security forbids hostPath in the real manifests);
 * - probes go (podman runs liveness probes with curl, which the image does not have); the test polls
 *   the same /healthz and /readyz itself; so do the ports, which podman 4.3 would publish on the host
 *   (the test reaches each pod at its address on the test's network);
 * - Services, NetworkPolicies, budgets and autoscalers, which podman has no use for, are dropped.
 */
export interface PodmanStack {
  /** The ConfigMaps, NATS and the fake model server. */
  infrastructure: string;
  provision: string;
  /** Each actor's Deployment by actor name, `replicas` as rendered unless `withReplicas` changes it. */
  actor(name: string, replicas?: number): string;
}

export function forPodman(
  manifests: Manifest[],
  options: {
    image: string;
    secrets: Manifest[];
    secretsDir: string;
    actorEnv?: Record<string, Record<string, string>>;
  },
): PodmanStack {
  const secrets = new Map(
    options.secrets.map((s) => [s.metadata.name, (s as Json).stringData as Record<string, string>]),
  );
  const configMaps = manifests.filter((m) => m.kind === "ConfigMap");

  const fixSpec = (spec: Json, extraEnv: Record<string, string> = {}) => {
    for (const container of spec.containers as Json[]) {
      if (container.image === "toolformer:dev") container.image = options.image;
      delete container.startupProbe;
      delete container.readinessProbe;
      delete container.livenessProbe;
      // podman 4.3 publishes every containerPort on the host's address: the test reaches pods by their IPs.
      delete container.ports;
      const env: Json[] = container.env ?? [];
      const envFrom: Json[] = [];
      for (const from of container.envFrom ?? []) {
        if (!from.secretRef) {
          envFrom.push(from);
          continue;
        }
        const data = secrets.get(from.secretRef.name);
        if (!data && from.secretRef.optional) continue;
        if (!data) throw new Error(`no Secret ${from.secretRef.name}`);
        for (const [name, value] of Object.entries(data)) env.push({ name, value });
      }
      for (const [name, value] of Object.entries(extraEnv)) env.push({ name, value });
      container.env = env;
      container.envFrom = envFrom;
    }
    for (const volume of (spec.volumes ?? []) as Json[]) {
      if (!volume.secret) continue;
      const data = secrets.get(volume.secret.secretName);
      if (!data) throw new Error(`no Secret ${volume.secret.secretName}`);
      const dir = join(options.secretsDir, volume.secret.secretName);
      mkdirSync(dir, { recursive: true });
      for (const [file, value] of Object.entries(data)) writeFileSync(join(dir, file), `${value}\n`, { mode: 0o644 });
      delete volume.secret;
      volume.hostPath = { path: dir, type: "Directory" };
    }
    return spec;
  };
  const documents = (...docs: Json[]) => [...configMaps, ...docs].map((d) => stringify(d)).join("---\n");
  const find = (kind: string, name: string) => {
    const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
    if (!found) throw new Error(`no ${kind} ${name}`);
    return structuredClone(found) as Json;
  };

  /** A workload's pod template as a Pod of its own name (podman 4.3 plays no StatefulSet, no Job). */
  const podOf = (name: string, workload: Json, spec: Json) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: workload.spec.template.metadata.labels },
    spec,
  });
  const nats = find("StatefulSet", "nats");
  const natsSpec = fixSpec(nats.spec.template.spec);
  for (const claim of nats.spec.volumeClaimTemplates ?? [])
    natsSpec.volumes.push({ name: claim.metadata.name, emptyDir: {} });
  const natsPod = podOf("nats", nats, natsSpec);
  const fakeLlm = find("Deployment", "fake-llm");
  const fakeLlmPod = podOf("fake-llm", fakeLlm, fixSpec(fakeLlm.spec.template.spec));
  const job = find("Job", "toolformer-provision");
  const provisionPod = podOf("toolformer-provision", job, fixSpec(job.spec.template.spec));
  return {
    infrastructure: documents(natsPod, fakeLlmPod),
    provision: documents(provisionPod),
    actor(name, replicas) {
      const deployment = find("Deployment", `toolformer-${name}`);
      fixSpec(deployment.spec.template.spec, options.actorEnv?.[name]);
      if (replicas !== undefined) deployment.spec.replicas = replicas;
      return documents(deployment);
    },
  };
}
