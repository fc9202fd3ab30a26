/**
 * The Pod Security Standards' "restricted" profile (kubernetes.io/docs/concepts/security/pod-security-standards),
 * checked on a pod spec as the admission controller would, since no validator can be installed offline here.
 * Each finding names the field and what the profile wants.
 */

type Json = Record<string, unknown>;
const obj = (value: unknown): Json => (typeof value === "object" && value !== null ? (value as Json) : {});
const list = (value: unknown): Json[] => (Array.isArray(value) ? value.map(obj) : []);

/** Volume types "restricted" allows. */
const ALLOWED_VOLUMES = new Set([
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
]);
const SAFE_SYSCTLS = new Set([
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
]);

const seccompOk = (profile: unknown) => ["RuntimeDefault", "Localhost"].includes(String(obj(profile).type));

/** Every violation of "restricted" in `spec` (a PodSpec), prefixed with `where`. */
export function restrictedViolations(spec: Json, where: string): string[] {
  const found: string[] = [];
  const fail = (path: string, want: string) => found.push(`${where}: ${path} ${want}`);
  const pod = obj(spec.securityContext);

  for (const field of ["hostNetwork", "hostPID", "hostIPC"] as const)
    if (spec[field] === true) fail(`spec.${field}`, "must not be true");
  for (const volume of list(spec.volumes)) {
    const type = Object.keys(volume).find((key) => key !== "name");
    if (!type || !ALLOWED_VOLUMES.has(type)) fail(`volume ${String(volume.name)}`, `is ${type}: not allowed`);
  }
  for (const sysctl of list(pod.sysctls))
    if (!SAFE_SYSCTLS.has(String(sysctl.name))) fail(`sysctl ${String(sysctl.name)}`, "is not a safe sysctl");
  if (pod.seLinuxOptions && (obj(pod.seLinuxOptions).user || obj(pod.seLinuxOptions).role))
    fail("spec.securityContext.seLinuxOptions", "must not set user or role");
  if (pod.appArmorProfile && !seccompOk(pod.appArmorProfile))
    fail("spec.securityContext.appArmorProfile.type", "must be RuntimeDefault or Localhost");
  if (pod.runAsUser === 0) fail("spec.securityContext.runAsUser", "must not be 0");
  if (pod.seccompProfile && !seccompOk(pod.seccompProfile))
    fail("spec.securityContext.seccompProfile.type", "must be RuntimeDefault or Localhost");

  const containers = [
    ...list(spec.initContainers).map((c) => ["initContainers", c] as const),
    ...list(spec.containers).map((c) => ["containers", c] as const),
    ...list(spec.ephemeralContainers).map((c) => ["ephemeralContainers", c] as const),
  ];
  for (const [kind, container] of containers) {
    const at = `${kind}[${String(container.name)}].securityContext`;
    const context = obj(container.securityContext);
    if (context.privileged === true) fail(`${at}.privileged`, "must not be true");
    if (context.allowPrivilegeEscalation !== false) fail(`${at}.allowPrivilegeEscalation`, "must be false");
    if (context.runAsNonRoot !== true && pod.runAsNonRoot !== true)
      fail(`${at}.runAsNonRoot`, "must be true (here or on the pod)");
    if (context.runAsNonRoot === false) fail(`${at}.runAsNonRoot`, "must not be false");
    if (context.runAsUser === 0) fail(`${at}.runAsUser`, "must not be 0");
    if (!seccompOk(context.seccompProfile ?? pod.seccompProfile))
      fail(`${at}.seccompProfile.type`, "must be RuntimeDefault or Localhost (here or on the pod)");
    const capabilities = obj(context.capabilities);
    const drop: unknown[] = Array.isArray(capabilities.drop) ? capabilities.drop : [];
    if (!drop.includes("ALL")) fail(`${at}.capabilities.drop`, "must include ALL");
    const add: unknown[] = Array.isArray(capabilities.add) ? capabilities.add : [];
    for (const added of add)
      if (added !== "NET_BIND_SERVICE") fail(`${at}.capabilities.add`, `must not add ${String(added)}`);
    if (context.procMount !== undefined && context.procMount !== "Default") fail(`${at}.procMount`, "must be Default");
    for (const port of list(container.ports))
      if (port.hostPort !== undefined && port.hostPort !== 0)
        fail(`${kind}[${String(container.name)}].ports`, "must not use hostPort");
  }
  return found;
}

/** The pod spec inside a workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob). */
export function podSpecOf(manifest: Json): Json | undefined {
  const spec = obj(manifest.spec);
  switch (manifest.kind) {
    case "Pod":
      return spec;
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
    case "Job":
      return obj(obj(spec.template).spec);
    case "CronJob":
      return obj(obj(obj(obj(spec.jobTemplate).spec).template).spec);
    default:
      return undefined;
  }
}
