import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Namespace, Pod, Secret, Service } from "kubernetes-models/v1";
import type { Manifest } from "./manifests.ts";

/** Models generated from Kubernetes' OpenAPI schemas (kubernetes-models) and KEDA's CRDs, by apiVersion/kind. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "v1/Pod": Pod,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "batch/v1/Job": Job,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
};

/**
 * Schema errors of each manifest: types, required fields, enums and formats, as kubeconform checks
 * them without -strict (unknown fields pass: the generated schemas allow them).
 */
export function schemaErrors(manifests: Manifest[]): string[] {
  return manifests.flatMap((manifest) => {
    const where = `${manifest.kind} ${manifest.metadata.name}`;
    const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
    if (!Model) return [`${where}: no schema for ${manifest.apiVersion} ${manifest.kind}`];
    try {
      new Model(manifest as never).validate();
      return [];
    } catch (error) {
      return [`${where}: ${error instanceof Error ? error.message : String(error)}`];
    }
  });
}
