// Traffic badges of the graph: which services have routing (VirtualService, traffic split,
// fault, circuit breaker, timeout) and the compact text the canvas and the side panel show
// for them. The routing is read once per view (the namespaces in view) and again after the
// traffic editor applies a change (`meshui:traffic-changed`) — never per node or per tick.
// Pure except `loadRouting`, whose API client is passed in; runs under Node.

import { serviceOfNode } from "../traffic/editor.js";
import { syncAgeS } from "../traffic/sync.js";
import { sortSubsets } from "../traffic/weights.js";
import { formatAge } from "./format.js";

/** Services whose traffic state is read for one view at most (the rest get no badges). */
export const MAX_SERVICES = 200;
/** Traffic states read at the same time. */
const PARALLEL = 6;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The map key of a service: "namespace/service". */
export function serviceKey(namespace, service) {
  return `${namespace}/${service}`;
}

/** The key of the service node `node` belongs to (workload/app/versioned app/service), or null. */
export function nodeServiceKey(node) {
  const found = serviceOfNode(node);
  return found ? serviceKey(found.namespace, found.service) : null;
}

/**
 * `{namespace, service}` named by an Istio `host` written in a resource of `namespace`, or null
 * for wildcards and hosts outside the cluster. "reviews", "reviews.bookinfo",
 * "reviews.bookinfo.svc" and "reviews.bookinfo.svc.cluster.local" all name bookinfo/reviews.
 */
export function serviceOfHost(host, namespace) {
  const parts = String(host ?? "").trim().toLowerCase().split(".");
  if (parts.some((p) => !DNS_LABEL.test(p))) return null;
  if (parts.length === 1) return namespace ? { namespace, service: parts[0] } : null;
  if (parts.length === 2 || parts[2] === "svc") return { namespace: parts[1], service: parts[0] };
  return null;
}

/**
 * The hosts a resource's YAML (as `GET /api/v1/istio-config` gives it: block style) names:
 * every `host:` value and the items of every `hosts:` list.
 */
export function hostsOfYaml(text) {
  const hosts = [];
  const lines = String(text ?? "").split("\n");
  for (let i = 0; i < lines.length; i += 1) {
    const single = lines[i].match(/^\s*(?:-\s+)?host:\s*['"]?([^\s'"#]+)/);
    if (single) { hosts.push(single[1]); continue; }
    const list = lines[i].match(/^(\s*)(?:-\s+)?hosts:\s*$/);
    if (!list) continue;
    // PyYAML indents a block list's items at its key's column or deeper.
    const indent = list[1].length;
    for (let j = i + 1; j < lines.length; j += 1) {
      const item = lines[j].match(/^(\s*)-\s+['"]?([^\s'"#]+)/);
      if (!item || item[1].length < indent) break;
      hosts.push(item[2]);
    }
  }
  return hosts;
}

/**
 * The services that the VirtualServices/DestinationRules of an istio-config answer
 * (`resources[{kind, name, namespace, yaml}]`) refer to, as sorted "namespace/service" keys.
 * A resource naming no host in the cluster counts for the service of its own name.
 */
export function servicesOfConfig(resources) {
  const keys = new Set();
  for (const r of resources ?? []) {
    if (r.kind !== "VirtualService" && r.kind !== "DestinationRule") continue;
    const found = hostsOfYaml(r.yaml).map((h) => serviceOfHost(h, r.namespace)).filter(Boolean);
    if (!found.length && r.namespace && r.name) found.push({ namespace: r.namespace, service: r.name });
    for (const s of found) keys.add(serviceKey(s.namespace, s.service));
  }
  return [...keys].sort();
}

function percent(value) {
  return `${Number(value)}%`;
}

/** One match condition in words: `x-group = "test"`, `end-user starts with "j"`, `uri …`. */
function describeMatch(match) {
  const words = { exact: "=", prefix: "starts with", regex: "matches" };
  const parts = Object.entries(match.headers ?? {}).map(([name, condition]) => {
    const [[kind, value]] = Object.entries(condition);
    return `${name} ${words[kind] ?? kind} "${value}"`;
  });
  const others = Object.keys(match).filter((k) => k !== "headers");
  if (others.length) parts.push(`${others.join(", ")} condition${others.length === 1 ? "" : "s"}`);
  return parts.join(" and ") || "every request";
}

function describeRoute(route) {
  const subsets = sortSubsets(Object.keys(route.weights));
  const to = subsets.map((s) => `${s} ${percent(route.weights[s])}`).join(", ");
  return `${(route.match ?? []).map(describeMatch).join(" or ")} → ${to}`;
}

/**
 * The badges of one traffic state (`GET …/traffic`), in display order. Each is
 * `{kind, short, detail}`: `kind` one of "vs", "split", "routes", "fault", "cb", "timeout"; `short` the
 * canvas text; `detail` the side panel's sentence. [] when the service has no routing.
 */
export function badgesOfState(state) {
  if (!state) return [];
  const badges = [];
  const virtualService = (state.resources ?? []).find((r) => r.kind === "VirtualService");
  if (virtualService) badges.push({ kind: "vs", short: "VS", detail: `VirtualService ${virtualService.name}` });
  const weights = state.weights ?? {};
  const subsets = sortSubsets(Object.keys(weights));
  if (subsets.length) {
    badges.push({
      kind: "split",
      // Canvas text stays short (labels share the canvas with neighbours): subsets at 0 are left
      // out there; the side panel's sentence lists them all.
      short: subsets.filter((s) => weights[s] > 0).map((s) => `${s}:${weights[s]}`).join(" "),
      detail: `Split: ${subsets.map((s) => `${s} ${percent(weights[s])}`).join(", ")}`,
    });
  }
  const routes = (state.routes ?? []).filter((r) => Object.keys(r.weights ?? {}).length);
  if (routes.length) {
    // Canvas: where matching requests go ("↪v3"); the panel: each route's conditions.
    const targets = sortSubsets([...new Set(routes.flatMap((r) => Object.keys(r.weights).filter((s) => r.weights[s] > 0)))]);
    badges.push({
      kind: "routes",
      short: `↪${targets.join(",")}`,
      detail: `Match route${routes.length === 1 ? "" : "s"}: ${routes.map(describeRoute).join("; ")}`,
    });
  }
  const fault = state.fault;
  if (fault && (fault.abort || fault.delay)) {
    const parts = [];
    if (fault.abort) parts.push(`abort ${fault.abort.http_status} on ${percent(fault.abort.percent)}`);
    if (fault.delay) parts.push(`delay ${fault.delay.fixed_delay} on ${percent(fault.delay.percent)}`);
    badges.push({ kind: "fault", short: "⚡", detail: `Fault injection: ${parts.join(", ")}` });
  }
  const breaker = state.circuit_breaker;
  if (breaker && Object.keys(breaker).length) {
    const parts = Object.entries(breaker).map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`);
    badges.push({ kind: "cb", short: "CB", detail: `Circuit breaker: ${parts.join(", ")}` });
  }
  if (state.timeout) badges.push({ kind: "timeout", short: `t/o ${state.timeout}`, detail: `Timeout: ${state.timeout}` });
  return badges;
}

/**
 * The one short line the canvas adds under a node's label ("" without badges). A split implies
 * its VirtualService, so "VS" is only written when there is no split to show.
 */
export function badgeLine(badges) {
  const list = badges ?? [];
  const hasSplit = list.some((b) => b.kind === "split");
  return list.filter((b) => !(hasSplit && b.kind === "vs")).map((b) => b.short).join(" · ");
}

/**
 * Read the routing of the namespaces in view. `namespaces`: the view's list ([] = all);
 * `api`: `{getIstioConfig(namespace), getTraffic(namespace, service)}` of traffic/api.js, each
 * resolving to `{ok, status, body}`. Resolves to `{badges: Map<"ns/service", badge[]>,
 * errors: string[], syncAgeS: number | null}` — one istio-config read per namespace (one in all
 * for "all"), then one traffic read per service that has routing, at most MAX_SERVICES; a
 * failed read is named in `errors` and leaves its services out. `syncAgeS`: when an
 * istio-config answer came from the backend's read cache, the age of the oldest; else null.
 */
export async function loadRouting(namespaces, api) {
  const errors = [];
  const failed = (what, answer) => errors.push(`${what}: ${answer.body?.error?.message ?? `HTTP ${answer.status}`}`);
  const scopes = namespaces.length ? namespaces : [null];
  const answers = await Promise.all(scopes.map((ns) => api.getIstioConfig(ns)));
  const resources = [];
  let oldest = null;
  answers.forEach((answer, i) => {
    if (!answer.ok) { failed(`istio-config ${scopes[i] ?? "(all namespaces)"}`, answer); return; }
    resources.push(...answer.body.resources);
    const age = syncAgeS(answer.body);
    if (age !== null && (oldest === null || age > oldest)) oldest = age;
  });
  const inView = new Set(namespaces);
  const keys = servicesOfConfig(resources).filter((k) => !inView.size || inView.has(k.split("/")[0]));
  if (keys.length > MAX_SERVICES) errors.push(`${keys.length} services have routing: badges for the first ${MAX_SERVICES} only`);
  const todo = keys.slice(0, MAX_SERVICES);
  const badges = new Map();
  const worker = async () => {
    while (todo.length) {
      const key = todo.shift();
      const [ns, service] = key.split("/");
      const answer = await api.getTraffic(ns, service);
      if (!answer.ok) { failed(key, answer); continue; }
      const list = badgesOfState(answer.body);
      if (list.length) badges.set(key, list);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, todo.length) }, worker));
  return { badges, errors, syncAgeS: oldest };
}

/**
 * The legend's status line of a `loadRouting` result: "2 services with routing in view", with
 * "· last synced 12 s ago" when the istio-config answer came from the backend's cache
 * (`elapsedS`: seconds since the result arrived), or what could not be read.
 */
export function routingStatusText({ badges, errors, syncAgeS: age = null }, elapsedS = 0) {
  if (errors.length) return `Routing not fully read: ${errors.join("; ")}`;
  const count = `${badges.size} service${badges.size === 1 ? "" : "s"} with routing in view`;
  return age === null ? count : `${count} · last synced ${formatAge(age + Math.max(0, elapsedS))}`;
}
