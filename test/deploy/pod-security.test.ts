import { describe, expect, it } from "vitest";
import { restrictedViolations } from "./pod-security.ts";

const compliant = () => ({
  securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
  containers: [
    {
      name: "actor",
      image: "toolformer:dev",
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
    },
  ],
  volumes: [
    { name: "tmp", emptyDir: {} },
    { name: "nkey", secret: { secretName: "s" } },
  ],
});

describe("the Pod Security 'restricted' checks", () => {
  it("pass a pod that meets the profile", () => {
    expect(restrictedViolations(compliant(), "pod")).toEqual([]);
  });

  it("name each thing the profile forbids", () => {
    const spec = compliant();
    Object.assign(spec, { hostNetwork: true });
    spec.securityContext = { runAsNonRoot: false, runAsUser: 0, seccompProfile: { type: "Unconfined" } };
    spec.volumes.push({ name: "host", hostPath: { path: "/" } } as never);
    spec.containers[0]!.securityContext = {
      allowPrivilegeEscalation: true,
      capabilities: { drop: ["NET_RAW"], add: ["SYS_ADMIN"] } as never,
    };
    expect(restrictedViolations(spec, "pod")).toEqual([
      "pod: spec.hostNetwork must not be true",
      "pod: volume host is hostPath: not allowed",
      "pod: spec.securityContext.runAsUser must not be 0",
      "pod: spec.securityContext.seccompProfile.type must be RuntimeDefault or Localhost",
      "pod: containers[actor].securityContext.allowPrivilegeEscalation must be false",
      "pod: containers[actor].securityContext.runAsNonRoot must be true (here or on the pod)",
      "pod: containers[actor].securityContext.seccompProfile.type must be RuntimeDefault or Localhost (here or on the pod)",
      "pod: containers[actor].securityContext.capabilities.drop must include ALL",
      "pod: containers[actor].securityContext.capabilities.add must not add SYS_ADMIN",
    ]);
  });

  it("want the seccomp profile and non-root on the pod or on every container", () => {
    const spec = compliant();
    spec.securityContext = {} as never;
    expect(restrictedViolations(spec, "pod")).toEqual([
      "pod: containers[actor].securityContext.runAsNonRoot must be true (here or on the pod)",
      "pod: containers[actor].securityContext.seccompProfile.type must be RuntimeDefault or Localhost (here or on the pod)",
    ]);
  });
});
