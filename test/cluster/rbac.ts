/**
 * RBAC for the stand-in API server, read from the manifest we ship: the rules the stand-in enforces
 * are the ClusterRole(s) bound to the agent's service account, so a rule dropped from (or never
 * added to) manifests/patchcord.yaml makes the cluster test fail the way a real cluster would.
 */
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** What the authorizer decides on, as the real one names it (k8s.io/apiserver authorizer.Attributes). */
export interface RequestAttributes {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource?: string;
  name?: string;
  namespace?: string;
}

export interface Authorizer {
  user: string;
  rules: PolicyRule[];
  /** Namespaced rules from RoleBindings, by namespace. */
  namespaced: Map<string, PolicyRule[]>;
  allows(attrs: RequestAttributes): boolean;
}

type Obj = { kind?: string; metadata?: { name?: string; namespace?: string }; [k: string]: unknown };
type Subject = { kind: string; name: string; namespace?: string };
type RoleRef = { kind: string; name: string };

/** The groups the real authenticator puts a service account in. */
function groupsOf(user: string): string[] {
  const sa = /^system:serviceaccount:([^:]+):[^:]+$/.exec(user);
  return ["system:authenticated", ...(sa ? ["system:serviceaccounts", `system:serviceaccounts:${sa[1]}`] : [])];
}

function subjectMatches(s: Subject, user: string, bindingNamespace?: string): boolean {
  if (s.kind === "ServiceAccount") return user === `system:serviceaccount:${s.namespace ?? bindingNamespace}:${s.name}`;
  if (s.kind === "User") return user === s.name;
  if (s.kind === "Group") return groupsOf(user).includes(s.name);
  return false;
}

export function authorizerFrom(objects: Obj[], user: string): Authorizer {
  const find = (kind: string, name: string, namespace?: string) =>
    objects.find((o) => o.kind === kind && o.metadata?.name === name && (namespace === undefined || o.metadata?.namespace === namespace));
  const rulesOf = (ref: RoleRef, namespace?: string): PolicyRule[] =>
    ((find(ref.kind, ref.name, ref.kind === "Role" ? namespace : undefined)?.rules as PolicyRule[] | undefined) ?? []);

  const rules: PolicyRule[] = [];
  const namespaced = new Map<string, PolicyRule[]>();
  for (const o of objects) {
    const subjects = (o.subjects as Subject[] | undefined) ?? [];
    const ns = o.metadata?.namespace;
    if (o.kind === "ClusterRoleBinding" && subjects.some((s) => subjectMatches(s, user))) {
      rules.push(...rulesOf(o.roleRef as RoleRef));
    } else if (o.kind === "RoleBinding" && ns && subjects.some((s) => subjectMatches(s, user, ns))) {
      namespaced.set(ns, [...(namespaced.get(ns) ?? []), ...rulesOf(o.roleRef as RoleRef, ns)]);
    }
  }
  return {
    user,
    rules,
    namespaced,
    allows: (attrs) =>
      rules.some((r) => ruleAllows(r, attrs)) || (attrs.namespace !== undefined && (namespaced.get(attrs.namespace) ?? []).some((r) => ruleAllows(r, attrs))),
  };
}

export function loadAuthorizer(manifestPath: string, user: string): Authorizer {
  const objects = parseAllDocuments(readFileSync(manifestPath, "utf8"))
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => !!o);
  return authorizerFrom(objects, user);
}

const has = (list: string[] | undefined, v: string) => !!list && (list.includes("*") || list.includes(v));

export function ruleAllows(r: PolicyRule, a: RequestAttributes): boolean {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (!has(r.verbs, a.verb) || !has(r.apiGroups, a.apiGroup)) return false;
  if (!has(r.resources, resource) && !(a.subresource && r.resources?.includes(`*/${a.subresource}`))) return false;
  // resourceNames restricts requests that name an object; a plain list/watch names none, so it is refused.
  return !r.resourceNames?.length || (a.name !== undefined && r.resourceNames.includes(a.name));
}

/**
 * The attributes of a resource request (/api/v1/..., /apis/<group>/<version>/...), or undefined
 * for a non-resource path (/api, /version, ...). Verb rules as in the real request-info resolver:
 * GET of a collection is list, or watch with watch=true|1 (or the legacy /watch/ prefix).
 */
export function requestAttributes(method: string, path: string, query: URLSearchParams): RequestAttributes | undefined {
  const parts = path.split("/").filter(Boolean);
  let apiGroup: string;
  let rest: string[];
  if (parts[0] === "api" && parts.length >= 3) [apiGroup, rest] = ["", parts.slice(2)];
  else if (parts[0] === "apis" && parts.length >= 4) [apiGroup, rest] = [parts[1], parts.slice(3)];
  else return undefined;
  let legacyWatch = false;
  if (rest[0] === "watch") [legacyWatch, rest] = [true, rest.slice(1)];
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) [namespace, rest] = [rest[1], rest.slice(2)];
  const [resource, name, subresource] = rest;
  const watch = legacyWatch || ["true", "1"].includes(query.get("watch") ?? "");
  const verbs: Record<string, string> = { POST: "create", PUT: "update", PATCH: "patch", DELETE: name ? "delete" : "deletecollection" };
  const verb = method === "GET" || method === "HEAD" ? (watch ? "watch" : name ? "get" : "list") : (verbs[method] ?? method.toLowerCase());
  return { verb, apiGroup, resource, name, subresource, namespace };
}

/** The message of the real 403 Status, word for word in its shape. */
export function forbiddenMessage(user: string, a: RequestAttributes): string {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  // The subject names the resource qualified by its group ("daemonsets.apps"), as the real one does.
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const what = a.name ? `${qualified} "${a.name}"` : qualified;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
  return `${what} is forbidden: User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" ${scope}`;
}
