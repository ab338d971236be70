/**
 * Node objects shaped like the ones kubeadm clusters (kind, minikube) show: what the agent reads
 * (spec.podCIDR(s), InternalIP addresses) plus the fields a real Node always carries, so code that
 * trips over a realistic object trips here too. The stand-in API server fills in uid,
 * resourceVersion and creationTimestamp.
 */
export interface NodeOptions {
  /** The node's PodCIDRs; the first is also the legacy spec.podCIDR (as kube-controller-manager sets it). */
  podCIDRs?: string[];
  internalIPs?: string[];
  /** Adds the control-plane role label and NoSchedule taint kubeadm puts on control-plane nodes. */
  controlPlane?: boolean;
  /** Condition Ready's status; a node without a CNI config is "False" (KubeletNotReady). */
  ready?: boolean;
}

export function makeNode(name: string, opts: NodeOptions = {}): Record<string, unknown> {
  const podCIDRs = opts.podCIDRs ?? [];
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const condition = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    lastHeartbeatTime: stamp,
    lastTransitionTime: stamp,
    reason,
    message,
  });
  const ready = opts.ready ?? false;
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        ...(opts.controlPlane ? { "node-role.kubernetes.io/control-plane": "" } : {}),
      },
      annotations: { "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true" },
    },
    spec: {
      ...(podCIDRs.length ? { podCIDR: podCIDRs[0], podCIDRs } : {}),
      providerID: `kind://docker/kind/${name}`,
      ...(opts.controlPlane ? { taints: [{ key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" }] } : {}),
    },
    status: {
      addresses: [...(opts.internalIPs ?? []).map((address) => ({ type: "InternalIP", address })), { type: "Hostname", address: name }],
      conditions: [
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ready
          ? condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")
          : condition("Ready", "False", "KubeletNotReady", "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"),
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        architecture: "amd64",
        operatingSystem: "linux",
        osImage: "Debian GNU/Linux 12 (bookworm)",
        kernelVersion: "6.1.0",
        containerRuntimeVersion: "containerd://2.1.0",
        kubeletVersion: "v1.33.1",
        kubeProxyVersion: "",
        bootID: "",
        machineID: "",
        systemUUID: "",
      },
    },
  };
}
