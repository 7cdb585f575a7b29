// Unit tests of the graph's traffic badges: node --test static/js/tests/
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  badgeLine, badgesOfState, hostsOfYaml, loadRouting, nodeServiceKey, serviceOfHost, servicesOfConfig,
} from "../graph/badges.js";

// As GET /api/v1/istio-config gives it (PyYAML block style).
const VS_YAML = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews-route
  namespace: bookinfo
spec:
  hosts:
  - reviews.bookinfo.svc.cluster.local
  - ratings
  http:
  - route:
    - destination:
        host: reviews.bookinfo.svc.cluster.local
        subset: v1
      weight: 90
`;
const DR_YAML = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: details
  namespace: bookinfo
spec:
  host: details.bookinfo.svc.cluster.local
`;

const STATE = {
  namespace: "bookinfo", service: "reviews", weights: { v2: 10, v10: 0, v1: 90 }, routes: [],
  fault: { abort: { http_status: 503, percent: 10 }, delay: null }, timeout: "3s", retries: null,
  circuit_breaker: { max_connections: 100, consecutive_5xx_errors: 5 },
  resources: [{ kind: "VirtualService", name: "reviews", namespace: "bookinfo" }, { kind: "DestinationRule", name: "reviews", namespace: "bookinfo" }],
};

test("test_hosts_of_yaml_reads_host_values_and_hosts_lists", () => {
  // given a VirtualService with two hosts and a destination host
  // then every host is read, the list ending where the indentation does
  assert.deepEqual(hostsOfYaml(VS_YAML), ["reviews.bookinfo.svc.cluster.local", "ratings", "reviews.bookinfo.svc.cluster.local"]);
  assert.deepEqual(hostsOfYaml(DR_YAML), ["details.bookinfo.svc.cluster.local"]);
  assert.deepEqual(hostsOfYaml(""), []);
});

test("test_service_of_host_completes_short_names_and_refuses_outside_hosts", () => {
  assert.deepEqual(serviceOfHost("reviews", "bookinfo"), { namespace: "bookinfo", service: "reviews" });
  assert.deepEqual(serviceOfHost("reviews.shop", "bookinfo"), { namespace: "shop", service: "reviews" });
  assert.deepEqual(serviceOfHost("reviews.shop.svc.cluster.local", "bookinfo"), { namespace: "shop", service: "reviews" });
  assert.equal(serviceOfHost("api.example.com", "bookinfo"), null);
  assert.equal(serviceOfHost("*.bookinfo.svc.cluster.local", "bookinfo"), null);
});

test("test_services_of_config_keys_every_service_a_resource_names", () => {
  // given a VS for reviews and ratings, a DR for details, a VS naming only an outside host, and a Gateway
  const resources = [
    { kind: "VirtualService", name: "reviews-route", namespace: "bookinfo", yaml: VS_YAML },
    { kind: "DestinationRule", name: "details", namespace: "bookinfo", yaml: DR_YAML },
    { kind: "VirtualService", name: "egress", namespace: "shop", yaml: "spec:\n  hosts:\n  - api.example.com\n" },
    { kind: "Gateway", name: "gw", namespace: "bookinfo", yaml: "spec:\n  host: productpage\n" },
  ];
  // then the keys are the in-cluster services (the outside-only VS counts for its own name)
  assert.deepEqual(servicesOfConfig(resources), ["bookinfo/details", "bookinfo/ratings", "bookinfo/reviews", "shop/egress"]);
});

test("test_badges_of_state_lists_vs_split_fault_cb_timeout_in_order", () => {
  const badges = badgesOfState(STATE);
  assert.deepEqual(badges.map((b) => b.kind), ["vs", "split", "fault", "cb", "timeout"]);
  // the split reads in version order, with its weights
  assert.equal(badges[1].short, "v1:90 v2:10");
  assert.equal(badges[1].detail, "Split: v1 90%, v2 10%, v10 0%");
  assert.equal(badges[2].detail, "Fault injection: abort 503 on 10%");
  assert.equal(badges[3].detail, "Circuit breaker: max connections 100, consecutive 5xx errors 5");
  assert.equal(badgeLine(badges), "v1:90 v2:10 · ⚡ · CB · t/o 3s");
  // without a split, the VirtualService itself is named
  assert.equal(badgeLine(badges.filter((b) => b.kind !== "split")), "VS · ⚡ · CB · t/o 3s");
});

test("test_match_routes_show_where_matching_requests_go", () => {
  // given the canary pattern: x-group: test to v3, a jason route split v2/v3, the rest to v1
  const state = { ...STATE, fault: null, circuit_breaker: null, timeout: null, weights: { v1: 100 }, routes: [
    { match: [{ headers: { "x-group": { exact: "test" } } }], weights: { v3: 100 } },
    { match: [{ headers: { "end-user": { prefix: "ja" } } }, { uri: { prefix: "/beta" } }], weights: { v2: 50, v3: 50 } },
  ] };
  // when
  const badges = badgesOfState(state);
  // then the canvas names the subsets the routes reach, the panel each route's conditions
  assert.deepEqual(badges.map((b) => b.kind), ["vs", "split", "routes"]);
  assert.equal(badges[2].short, "↪v2,v3");
  assert.equal(badges[2].detail,
    'Match routes: x-group = "test" → v3 100%; end-user starts with "ja" or uri condition → v2 50%, v3 50%');
  assert.equal(badgeLine(badges), "v1:100 · ↪v2,v3");
});

test("test_badges_of_state_is_empty_without_routing", () => {
  const none = { ...STATE, weights: {}, fault: null, timeout: null, circuit_breaker: null, resources: [] };
  assert.deepEqual(badgesOfState(none), []);
  assert.equal(badgeLine(badgesOfState(none)), "");
  // a delay-only fault and a DR-only breaker still show
  const delay = { ...none, fault: { abort: null, delay: { fixed_delay: "2s", percent: 50 } }, circuit_breaker: { max_connections: 1 } };
  assert.deepEqual(badgesOfState(delay).map((b) => [b.kind, b.short]), [["fault", "⚡"], ["cb", "CB"]]);
  assert.equal(badgesOfState(delay)[0].detail, "Fault injection: delay 2s on 50%");
});

test("test_node_service_key_matches_workload_app_and_service_nodes", () => {
  assert.equal(nodeServiceKey({ kind: "workload", namespace: "bookinfo", app: "reviews", workload: "reviews-v1" }), "bookinfo/reviews");
  assert.equal(nodeServiceKey({ kind: "app", namespace: "bookinfo", app: "reviews", version: "v2" }), "bookinfo/reviews");
  assert.equal(nodeServiceKey({ kind: "service", namespace: "bookinfo", service: "reviews", name: "reviews" }), "bookinfo/reviews");
  assert.equal(nodeServiceKey({ kind: "external", namespace: "unknown", name: "api.example.com" }), null);
});

test("test_load_routing_reads_config_per_namespace_then_traffic_per_routed_service", async () => {
  // given an API client that records its calls: bookinfo has routing for reviews, shop's read fails
  const calls = [];
  const api = {
    getIstioConfig: async (ns) => {
      calls.push(`config:${ns}`);
      if (ns === "shop") return { ok: false, status: 503, body: { error: { message: "backend down" } } };
      return { ok: true, status: 200, body: { resources: [{ kind: "VirtualService", name: "reviews", namespace: "bookinfo", yaml: "spec:\n  hosts:\n  - reviews\n  - other.elsewhere\n" }] } };
    },
    getTraffic: async (ns, service) => { calls.push(`traffic:${ns}/${service}`); return { ok: true, status: 200, body: STATE }; },
  };
  // when the routing of bookinfo and shop is loaded
  const { badges, errors } = await loadRouting(["bookinfo", "shop"], api);
  // then one config read per namespace, one traffic read for the in-view routed service only
  assert.deepEqual(calls, ["config:bookinfo", "config:shop", "traffic:bookinfo/reviews"]);
  assert.deepEqual([...badges.keys()], ["bookinfo/reviews"]);
  assert.equal(badges.get("bookinfo/reviews").length, 5);
  assert.deepEqual(errors, ["istio-config shop: backend down"]);
});

test("test_load_routing_of_all_namespaces_reads_config_once", async () => {
  const calls = [];
  const api = {
    getIstioConfig: async (ns) => { calls.push(`config:${ns}`); return { ok: true, status: 200, body: { resources: [] } }; },
    getTraffic: async () => { throw new Error("no service has routing"); },
  };
  const { badges, errors } = await loadRouting([], api);
  assert.deepEqual(calls, ["config:null"]);
  assert.deepEqual([badges.size, errors], [0, []]);
});
