// Unit tests of the find/hide expression language: node --test static/js/tests/
import assert from "node:assert/strict";
import { test } from "node:test";

import { compile, parse } from "../graph/findhide.js";

const slowEdge = { protocol: "http", health: "degraded", rate: 4, error: 0.025, client_error: 0, rt: 750, p50: 100, p95: 750, p99: 900, mtls: 1, tcp: null };
const grpcEdge = { protocol: "grpc", health: "healthy", rate: 2, error: 0, client_error: 0, rt: 20, p50: 5, p95: 20, p99: 30, mtls: 0.5, tcp: null };
const paymentsNode = { namespace: "payments", name: "ledger-v2", app: "ledger", version: "v2", kind: "workload", health: "failing", is_gateway: false, rate: 1, error: 0.5, rt: 40 };
const gatewayNode = { namespace: "istio-system", name: "ingressgateway", version: "", kind: "workload", health: "healthy", is_gateway: true, rate: 10, error: 0, rt: 12 };

function matches(text, subject) {
  const result = compile(text);
  assert.equal(result.ok, true, `expected ${text} to compile: ${JSON.stringify(result.error)}`);
  return result.test(subject);
}

function errorOf(text) {
  const result = compile(text);
  assert.equal(result.ok, false, `expected ${text} to be rejected`);
  return result.error;
}

test("test_response_time_compares_in_milliseconds", () => {
  assert.equal(matches("rt > 500", slowEdge), true);
  assert.equal(matches("rt > 500", grpcEdge), false);
  assert.equal(matches("rt > 0.5s", slowEdge), true);
  assert.equal(matches("rt >= 750ms", slowEdge), true);
});

test("test_error_percentage_is_a_share", () => {
  assert.equal(matches("error > 1%", slowEdge), true);
  assert.equal(matches("error > 1%", grpcEdge), false);
  assert.equal(matches("error > 3%", slowEdge), false);
});

test("test_namespace_version_and_protocol_match_text_case_insensitively", () => {
  assert.equal(matches("ns = payments", paymentsNode), true);
  assert.equal(matches("ns = Payments", paymentsNode), true);
  assert.equal(matches("version = v2", paymentsNode), true);
  assert.equal(matches("version = v2", gatewayNode), false);
  assert.equal(matches("protocol = grpc", grpcEdge), true);
  assert.equal(matches("protocol = grpc", paymentsNode), false);
  assert.equal(matches("name ~ gate", gatewayNode), true);
  assert.equal(matches("ns != payments", gatewayNode), true);
});

test("test_negated_flag_and_boolean_combinations", () => {
  assert.equal(matches("!healthy", paymentsNode), true);
  assert.equal(matches("!healthy", gatewayNode), false);
  assert.equal(matches("not healthy", slowEdge), true);
  assert.equal(matches("gateway or ns = payments", gatewayNode), true);
  assert.equal(matches("gateway and ns = payments", gatewayNode), false);
  assert.equal(matches("ns = payments and (error > 10% or rt > 1s)", paymentsNode), true);
  assert.equal(matches("error > 1% && protocol = http || gateway", slowEdge), true);
});

test("test_and_binds_tighter_than_or", () => {
  // gateway or (failing and rate > 100): true for the gateway, false for the payments node
  assert.equal(matches("gateway or failing and rate > 100", gatewayNode), true);
  assert.equal(matches("gateway or failing and rate > 100", paymentsNode), false);
});

test("test_mtls_is_a_flag_and_a_share", () => {
  assert.equal(matches("mtls", slowEdge), true);
  assert.equal(matches("mtls", grpcEdge), false);
  assert.equal(matches("mtls < 100%", grpcEdge), true);
});

test("test_field_missing_on_the_subject_never_matches", () => {
  assert.equal(matches("tcp > 0", slowEdge), false);
  assert.equal(matches("ns = payments", slowEdge), false);
});

test("test_blank_expression_is_no_filter", () => {
  const result = compile("   ");
  assert.equal(result.ok, true);
  assert.equal(result.empty, true);
  assert.equal(parse(""), null);
});

test("test_unknown_field_suggests_the_closest_name", () => {
  const error = errorOf("rtt > 500");
  assert.equal(error.message, "unknown field 'rtt' — did you mean 'rt'?");
  assert.equal(error.position, 0);
});

test("test_missing_value_names_the_operator", () => {
  const error = errorOf("error >");
  assert.equal(error.message, "expected a value after '>'");
  assert.equal(error.position, 7);
});

test("test_percent_on_a_latency_is_rejected", () => {
  assert.equal(errorOf("rt > 5%").message, "'%' only applies to error, 4xx and mtls, not 'rt'");
});

test("test_text_field_rejects_ordering_operators", () => {
  assert.equal(errorOf("ns > payments").message, "'ns' is text: use =, != or ~ (contains), not '>'");
});

test("test_number_field_needs_a_number", () => {
  assert.equal(errorOf("rate > fast").message, "'rate' needs a number, got 'fast'");
});

test("test_conditions_must_be_joined", () => {
  const error = errorOf("ns = a ns = b");
  assert.equal(error.message, "unexpected 'ns' at 8: join conditions with 'and' or 'or'");
  assert.equal(error.position, 7);
});

test("test_unbalanced_parenthesis_and_quote", () => {
  assert.equal(errorOf("(gateway or idle").message, "missing ')' for the '(' at 1");
  assert.equal(errorOf('name = "cart').message, "unclosed quote starting at 8");
});

test("test_dangling_and_is_reported", () => {
  assert.equal(errorOf("healthy and").message, "the expression ends too early: expected a field, a flag or '('");
});

test("test_field_without_operator_explains_the_form", () => {
  assert.equal(errorOf("rt").message, "'rt' needs an operator and a value, e.g. rt > 1");
});

test("test_origin_flag_finds_where_errors_start", () => {
  const origin = { ...paymentsNode, error_origin: true };
  const caller = { ...paymentsNode, name: "checkout-v1", error_origin: false };
  assert.equal(matches("origin", origin), true);
  assert.equal(matches("origin", caller), false);
  assert.equal(matches("failing and !origin", caller), true);
});

test("test_a_bare_name_alone_is_a_name_match", () => {
  assert.equal(matches("ledger-v2", paymentsNode), true);
  assert.equal(matches("LEDGER-V2", paymentsNode), true);
  assert.equal(matches("ledger", paymentsNode), false);
  assert.equal(matches('"ledger-v2"', paymentsNode), true);
  // a flag alone stays a flag, and an unknown word inside a longer expression stays an error
  assert.equal(matches("failing", paymentsNode), true);
  assert.match(errorOf("ledger-v2 and failing").message, /unknown field or flag 'ledger-v2'/);
});
