/**
 * Offline checks of the manifests: every document parses, every Kubernetes object passes the API's
 * schema (kubernetes-models) and has no field the API does not know (a typo there is silently
 * dropped or refused by kubectl), the kind configs have kind's shape, and the install has the
 * properties issue #12 asks for.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ts from "typescript";
import { parseAllDocuments } from "yaml";
import { ENVIRONMENT } from "../agent/options";
import { version } from "../package.json";

const DIR = __dirname;
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function load(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), "utf8"));
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join("; ")}`);
  return docs.map((d) => d.toJS() as Obj).filter(Boolean);
}

/** kubernetes-models' class for an object: module per apiVersion ("v1", "apps/v1", ...), class per kind. */
function modelFor(o: Obj): new (data: Obj) => { validate(): void } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(`kubernetes-models/${o.apiVersion}`);
  const Model = mod[o.kind];
  if (!Model) throw new Error(`no model for ${o.apiVersion} ${o.kind}`);
  return Model;
}

function schemaErrors(o: Obj): string | undefined {
  try {
    new (modelFor(o))(o).validate();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Fields the API does not know. The OpenAPI schemas allow extra properties, so validate() misses
 * them; kubernetes-models' TypeScript interfaces do not, so each object is type-checked as an
 * object literal of its kind's interface, where an unknown key is an error at any depth.
 */
function unknownFields(objects: Obj[]): string[] {
  const file = join(DIR, "__manifest-fields__.ts");
  const source = objects
    .map((o, i) => `import type { I${o.kind} as T${i} } from "kubernetes-models/${o.apiVersion}/${o.kind}";\nexport const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`)
    .join("\n");
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, types: [], target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, source, lang) : getSourceFile.call(host, name, lang, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
}

const install = load("patchcord.yaml");
const uninstall = load("patchcord-uninstall.yaml");
const find = (objs: Obj[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata?.name === name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
};
const daemonSet = find(install, "DaemonSet", "patchcord");
const podSpec = daemonSet.spec.template.spec;
const agent = podSpec.containers.find((c: Obj) => c.name === "agent");

/** The ConfigMap's keys: the agent settings a cluster admin tunes. */
const CONFIG_KEYS = ["PATCHCORD_MODE", "PATCHCORD_MTU", "PATCHCORD_MASQUERADE", "PATCHCORD_RESYNC", "PATCHCORD_CLUSTER_CIDRS"];
/** Set by the DaemonSet itself: where things are on the node, and who the node is. */
const DAEMONSET_ENV = ["NODE_NAME", "CNI_BIN_DIR", "CNI_CONF_DIR", "PATCHCORD_IPAM_DATA_DIR", "PATCHCORD_HEALTH_ADDR"];
const HOST_PATHS = {
  "/opt/cni/bin": "DirectoryOrCreate",
  "/etc/cni/net.d": "DirectoryOrCreate",
  "/run/patchcord": "DirectoryOrCreate",
  "/run/xtables.lock": "FileOrCreate",
  "/run/netns": "DirectoryOrCreate",
  "/var/lib/cni": "DirectoryOrCreate",
};

describe("the validators can fail", () => {
  test("a schema violation is caught", () => {
    const broken = structuredClone(daemonSet);
    broken.spec.template.spec.hostNetwork = "yes";
    delete broken.spec.template.spec.containers[0].name;
    expect(schemaErrors(broken)).toMatch(/hostNetwork must be boolean/);
    expect(schemaErrors(broken)).toMatch(/containers\/0 must have required property '?name/);
  });

  test("an unknown field is caught at any depth", () => {
    const typo = structuredClone(daemonSet);
    typo.spec.template.spec.containers[0].secuirtyContext = typo.spec.template.spec.containers[0].securityContext;
    const errors = unknownFields([typo]);
    expect(errors.join("\n")).toMatch(/'"?secuirtyContext"?' does not exist in type 'IContainer'/);
  });
});

describe.each([
  ["patchcord.yaml", install],
  ["patchcord-uninstall.yaml", uninstall],
])("%s against the Kubernetes API schemas", (_file, objects) => {
  test.each(objects.map((o) => [`${o.kind} ${o.metadata?.name}`, o]))("%s validates", (_name, o) => {
    expect(schemaErrors(o)).toBeUndefined();
  });

  test("has no unknown fields", () => {
    expect(unknownFields(objects)).toEqual([]);
  }, 30_000);
});

describe("patchcord.yaml", () => {
  test("has the service account, its read-only role and binding, the ConfigMap and the DaemonSet", () => {
    expect(install.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "ServiceAccount/patchcord",
      "ClusterRole/patchcord",
      "ClusterRoleBinding/patchcord",
      "ConfigMap/patchcord-config",
      "DaemonSet/patchcord",
    ]);
    for (const o of install.filter((x) => !x.kind.startsWith("Cluster"))) expect(o.metadata.namespace).toBe("kube-system");
  });

  test("RBAC: get, list and watch on nodes, nothing else, bound to the DaemonSet's service account", () => {
    expect(find(install, "ClusterRole", "patchcord").rules).toEqual([{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] }]);
    const binding = find(install, "ClusterRoleBinding", "patchcord");
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "patchcord" });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "patchcord", namespace: "kube-system" }]);
    expect(podSpec.serviceAccountName).toBe("patchcord");
    expect(install.filter((o) => /Role/.test(o.kind)).length).toBe(2);
  });

  test("the image is package.json's version, pulled only if absent", () => {
    expect(agent.image).toBe(`patchcord:${version}`);
    expect(agent.imagePullPolicy).toBe("IfNotPresent");
    expect(agent.command).toEqual(["/usr/local/bin/patchcord", "agent"]);
  });

  test("runs on every node, in the node's network namespace, as node-critical", () => {
    expect(podSpec.hostNetwork).toBe(true);
    expect(podSpec.hostPID).toBe(true); // the server opens the calling shim's /proc/PID/ns/net
    expect(podSpec.tolerations).toEqual([{ operator: "Exists" }]);
    expect(podSpec.priorityClassName).toBe("system-node-critical");
    expect(daemonSet.spec.updateStrategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } });
    expect(podSpec.terminationGracePeriodSeconds).toBeLessThanOrEqual(10);
    expect(daemonSet.spec.selector.matchLabels).toEqual(daemonSet.spec.template.metadata.labels);
  });

  test("not privileged: root with the network capabilities and those of the CNI server (setns, /proc/PID/ns) only", () => {
    const sc = agent.securityContext;
    expect(sc.privileged).toBe(false);
    expect(sc.runAsUser).toBe(0);
    expect(sc.capabilities.add).toEqual(["NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE"]);
    expect(sc.capabilities.drop).toEqual(["ALL"]);
    expect(podSpec.securityContext?.privileged).toBeUndefined();
  });

  test("mounts exactly the host paths it needs, at the same paths", () => {
    const volumes = Object.fromEntries(podSpec.volumes.map((v: Obj) => [v.name, v.hostPath]));
    const mounts = agent.volumeMounts.map((m: Obj) => [m.mountPath, volumes[m.name]?.path, volumes[m.name]?.type, m.readOnly ?? false]);
    expect(mounts).toEqual(Object.entries(HOST_PATHS).map(([path, type]) => [path, path, type, false]));
    // Namespaces the runtime mounts later must show up inside: without propagation a new pod's
    // CNI_NETNS would be missing for the server.
    expect(agent.volumeMounts.find((m: Obj) => m.mountPath === "/run/netns").mountPropagation).toBe("HostToContainer");
    expect(podSpec.volumes.length).toBe(mounts.length);
  });

  test("probes reach the agent on 127.0.0.1:9790 and the resources are bounded", () => {
    expect(agent.livenessProbe.httpGet).toEqual({ host: "127.0.0.1", path: "/healthz", port: 9790 });
    expect(agent.readinessProbe.httpGet).toEqual({ host: "127.0.0.1", path: "/readyz", port: 9790 });
    const env = Object.fromEntries(agent.env.filter((e: Obj) => "value" in e).map((e: Obj) => [e.name, e.value]));
    expect(env.PATCHCORD_HEALTH_ADDR).toBe("127.0.0.1:9790");
    expect(agent.resources.requests).toEqual({ cpu: "50m", memory: "64Mi" });
    expect(agent.resources.limits.memory).toBeDefined();
  });

  test("environment: NODE_NAME from spec.nodeName, the host paths, the ConfigMap through envFrom", () => {
    const env = Object.fromEntries(agent.env.map((e: Obj) => [e.name, e.value ?? e.valueFrom]));
    expect(Object.keys(env)).toEqual(DAEMONSET_ENV);
    expect(env.NODE_NAME).toEqual({ fieldRef: { fieldPath: "spec.nodeName" } });
    expect(env).toMatchObject({ CNI_BIN_DIR: "/opt/cni/bin", CNI_CONF_DIR: "/etc/cni/net.d", PATCHCORD_IPAM_DATA_DIR: "/run/patchcord/ipam" });
    expect(agent.envFrom).toEqual([{ configMapRef: { name: "patchcord-config" } }]);
  });

  test("the ConfigMap holds exactly the agent's tunable settings, with the documented defaults", () => {
    const data = find(install, "ConfigMap", "patchcord-config").data;
    expect(Object.keys(data).sort()).toEqual([...CONFIG_KEYS].sort());
    expect(data).toEqual({ PATCHCORD_MODE: "veth-routed", PATCHCORD_MTU: "", PATCHCORD_MASQUERADE: "true", PATCHCORD_RESYNC: "30", PATCHCORD_CLUSTER_CIDRS: "" });
  });

  test("every variable the manifest sets is one the agent reads", () => {
    const set = [...CONFIG_KEYS, ...DAEMONSET_ENV];
    expect(set.filter((name) => !ENVIRONMENT.includes(name))).toEqual([]);
    // The API server override is left to the cluster (a commented example for kind).
    expect(ENVIRONMENT).toContain("PATCHCORD_API_SERVER");
    expect(readFileSync(join(DIR, "patchcord.yaml"), "utf8")).toMatch(/#\s+- name: PATCHCORD_API_SERVER\n\s+#\s+value: https:\/\/kind-control-plane:6443/);
  });
});

describe("patchcord-uninstall.yaml", () => {
  const ds = find(uninstall, "DaemonSet", "patchcord-uninstall");
  const spec = ds.spec.template.spec;
  const [init] = spec.initContainers;

  test("runs `patchcord agent uninstall` once per node with the agent's image, privileges and mounts", () => {
    expect(uninstall.length).toBe(1);
    expect(init.command).toEqual(["/usr/local/bin/patchcord", "agent", "uninstall"]);
    expect(init.image).toBe(agent.image);
    expect(init.imagePullPolicy).toBe("IfNotPresent");
    expect(init.securityContext).toEqual(agent.securityContext);
    expect(init.volumeMounts).toEqual(agent.volumeMounts);
    expect(spec.volumes).toEqual(podSpec.volumes);
    expect(spec.hostNetwork).toBe(true);
    expect(spec.tolerations).toEqual([{ operator: "Exists" }]);
    const env = Object.fromEntries(init.env.map((e: Obj) => [e.name, e.value]));
    expect(env).toEqual({ CNI_BIN_DIR: "/opt/cni/bin", CNI_CONF_DIR: "/etc/cni/net.d", PATCHCORD_IPAM_DATA_DIR: "/run/patchcord/ipam" });
  });

  test("then idles without privileges, and needs no API access", () => {
    expect(spec.containers).toHaveLength(1);
    expect(spec.containers[0].command).toEqual(["sleep", "infinity"]);
    expect(spec.containers[0].securityContext.capabilities).toEqual({ drop: ["ALL"] });
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  test("documents the steps", () => {
    const text = readFileSync(join(DIR, "patchcord-uninstall.yaml"), "utf8");
    const steps = ["kubectl delete -f manifests/patchcord.yaml", "kubectl apply -f manifests/patchcord-uninstall.yaml", "rollout status daemonset/patchcord-uninstall", "kubectl delete -f manifests/patchcord-uninstall.yaml"];
    const at = steps.map((s) => text.indexOf(s));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
});

/** kind's v1alpha4 Cluster config, checked by hand: kind has no published schema to validate with. */
describe.each([
  ["kind.yaml", ["10.244.0.0/16"], ["10.96.0.0/16"]],
  ["kind-dualstack.yaml", ["10.244.0.0/16", "fd00:10:244::/56"], ["10.96.0.0/16", "fd00:10:96::/112"]],
])("%s", (file, podSubnets, serviceSubnets) => {
  const docs = load(file);
  const cfg = docs[0];
  const TOP = ["kind", "apiVersion", "name", "nodes", "networking", "featureGates", "runtimeConfig", "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902", "containerdConfigPatches", "containerdConfigPatchesJSON6902"];
  const NETWORKING = ["ipFamily", "apiServerAddress", "apiServerPort", "podSubnet", "serviceSubnet", "disableDefaultCNI", "kubeProxyMode", "dnsSearch"];
  const NODE = ["role", "image", "labels", "extraMounts", "extraPortMappings", "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902"];
  const isCIDR = (s: string) => /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$|^[0-9a-f:]+\/\d{1,3}$/i.test(s);

  test("is one kind Cluster with known keys only", () => {
    expect(docs).toHaveLength(1);
    expect(cfg.kind).toBe("Cluster");
    expect(cfg.apiVersion).toBe("kind.x-k8s.io/v1alpha4");
    expect(Object.keys(cfg).filter((k) => !TOP.includes(k))).toEqual([]);
    expect(Object.keys(cfg.networking).filter((k) => !NETWORKING.includes(k))).toEqual([]);
    for (const n of cfg.nodes) expect(Object.keys(n).filter((k) => !NODE.includes(k))).toEqual([]);
  });

  test("one control plane and two workers, without kind's CNI", () => {
    expect(cfg.nodes.map((n: Obj) => n.role)).toEqual(["control-plane", "worker", "worker"]);
    expect(cfg.networking.disableDefaultCNI).toBe(true);
  });

  test("pod and service subnets, one per address family", () => {
    const pods = String(cfg.networking.podSubnet).split(",");
    const services = String(cfg.networking.serviceSubnet).split(",");
    expect(pods).toEqual(podSubnets);
    expect(services).toEqual(serviceSubnets);
    for (const c of [...pods, ...services]) expect(isCIDR(c)).toBe(true);
    expect(cfg.networking.ipFamily ?? "ipv4").toBe(podSubnets.length === 2 ? "dual" : "ipv4");
  });
});

describe("README.md", () => {
  const text = readFileSync(join(DIR, "README.md"), "utf8");
  test.each([
    "kind create cluster --config manifests/kind.yaml",
    `docker build -t patchcord:${version} .`,
    `kind load docker-image patchcord:${version}`,
    "kubectl apply -f manifests/patchcord.yaml",
    "minikube start --cni=manifests/patchcord.yaml --container-runtime=containerd",
    `minikube image load patchcord:${version}`,
    "kubectl apply -f manifests/patchcord-uninstall.yaml",
  ])("gives the command %s", (cmd) => {
    expect(text).toContain(cmd);
  });
});
