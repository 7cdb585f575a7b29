// The find/hide expression language of the graph page. Pure: no DOM, runs under Node.
//
//   expr       := orExpr
//   orExpr     := andExpr (("or" | "||") andExpr)*
//   andExpr    := unary (("and" | "&&") unary)*
//   unary      := ("!" | "not") unary | "(" expr ")" | comparison | flag
//   comparison := field op value          op: = != > >= < <= ~ (contains)
//   flag       := healthy | degraded | failing | idle | gateway | unknown | external | mtls | origin
//
// A whole expression that is one bare word (not a field, flag or keyword) or one quoted string
// is a name: `reviews-v2` means `name = reviews-v2`.
//
// Values: numbers with an optional unit (`1%`, `500ms`, `2s`), bare words (`payments`, `v2`)
// or quoted strings. Percentages apply to share fields (error, mtls); durations to latency
// fields. Every error says where it is (0-based `position`) and what would have been valid.

export const STRING_FIELDS = {
  ns: "namespace", namespace: "namespace", name: "name", app: "app", version: "version",
  workload: "workload", service: "service", kind: "kind", health: "health", cluster: "cluster",
  protocol: "protocol",
};
export const NUMBER_FIELDS = {
  rt: "rt", p50: "p50", p95: "p95", p99: "p99", rate: "rate", rps: "rate",
  error: "error", errors: "error", "4xx": "client_error", mtls: "mtls", tcp: "tcp",
};
const SHARE_FIELDS = new Set(["error", "client_error", "mtls"]);
const LATENCY_FIELDS = new Set(["rt", "p50", "p95", "p99"]);
export const FLAGS = ["healthy", "degraded", "failing", "idle", "gateway", "unknown", "external", "mtls", "origin"];
const OPERATORS = ["!=", ">=", "<=", "=", ">", "<", "~"];
const DURATION_UNITS = { ms: 1, s: 1000, m: 60000 };

/** A syntax or meaning error at `position` (0-based character offset) of the expression. */
export class ExpressionError extends Error {
  constructor(message, position) {
    super(message);
    this.name = "ExpressionError";
    this.position = position;
  }
}

function tokenize(text) {
  const tokens = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) { i += 1; continue; }
    const two = text.slice(i, i + 2);
    if (two === "&&" || two === "||") { tokens.push({ type: "word", value: two === "&&" ? "and" : "or", pos: i }); i += 2; continue; }
    if (c === "(" || c === ")") { tokens.push({ type: c, pos: i }); i += 1; continue; }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op) { tokens.push({ type: "op", value: op, pos: i }); i += op.length; continue; }
    if (c === "!") { tokens.push({ type: "not", pos: i }); i += 1; continue; }
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new ExpressionError(`unclosed quote starting at ${i + 1}`, i);
      tokens.push({ type: "string", value: text.slice(i + 1, end), pos: i });
      i = end + 1;
      continue;
    }
    const match = /^[A-Za-z0-9_.:%/*-]+/.exec(text.slice(i));
    if (!match) throw new ExpressionError(`unexpected character '${c}' at ${i + 1}`, i);
    tokens.push({ type: "word", value: match[0], pos: i });
    i += match[0].length;
  }
  return tokens;
}

function suggestion(word, candidates) {
  const lower = word.toLowerCase();
  const close = candidates.find((c) => c.startsWith(lower.slice(0, 2)) && Math.abs(c.length - lower.length) <= 2);
  return close ? ` — did you mean '${close}'?` : "";
}

function parseNumber(field, token) {
  const m = /^(-?\d+(?:\.\d+)?)([a-z%]*)$/i.exec(token.value);
  if (!m) throw new ExpressionError(`'${field}' needs a number, got '${token.value}'`, token.pos);
  const value = Number(m[1]);
  const unit = m[2].toLowerCase();
  if (!unit) return value;
  if (unit === "%") {
    if (!SHARE_FIELDS.has(NUMBER_FIELDS[field])) throw new ExpressionError(`'%' only applies to error, 4xx and mtls, not '${field}'`, token.pos);
    return value / 100;
  }
  if (unit in DURATION_UNITS) {
    if (!LATENCY_FIELDS.has(NUMBER_FIELDS[field])) throw new ExpressionError(`a duration only applies to rt, p50, p95 and p99, not '${field}'`, token.pos);
    return value * DURATION_UNITS[unit];
  }
  throw new ExpressionError(`unknown unit '${m[2]}' in '${token.value}' (use %, ms or s)`, token.pos);
}

/**
 * Parse `text` into an AST. Throws ExpressionError (with `position`) on any error;
 * an empty or blank text parses to null (no filter).
 */
export function parse(text) {
  const tokens = tokenize(text);
  if (tokens.length === 0) return null;
  let at = 0;
  const peek = () => tokens[at];
  const isWord = (t, ...words) => t && t.type === "word" && words.includes(t.value.toLowerCase());

  function orExpr() {
    let left = andExpr();
    while (isWord(peek(), "or")) { at += 1; left = { type: "or", left, right: andExpr() }; }
    return left;
  }
  function andExpr() {
    let left = unary();
    while (isWord(peek(), "and")) { at += 1; left = { type: "and", left, right: unary() }; }
    return left;
  }
  function unary() {
    const t = peek();
    if (!t) throw new ExpressionError("the expression ends too early: expected a field, a flag or '('", text.length);
    if (t.type === "not" || isWord(t, "not")) { at += 1; return { type: "not", operand: unary() }; }
    if (t.type === "(") {
      at += 1;
      const inner = orExpr();
      const close = peek();
      if (!close || close.type !== ")") throw new ExpressionError(`missing ')' for the '(' at ${t.pos + 1}`, close ? close.pos : text.length);
      at += 1;
      return inner;
    }
    if (t.type !== "word" || isWord(t, "and", "or")) {
      throw new ExpressionError(`expected a field or a flag at ${t.pos + 1}, got '${t.value ?? t.type}'`, t.pos);
    }
    at += 1;
    const name = t.value.toLowerCase();
    const next = peek();
    if (next && next.type === "op") {
      at += 1;
      return comparison(name, t, next);
    }
    if (FLAGS.includes(name)) return { type: "flag", name };
    if (name in STRING_FIELDS || name in NUMBER_FIELDS) {
      throw new ExpressionError(`'${name}' needs an operator and a value, e.g. ${name in NUMBER_FIELDS ? `${name} > 1` : `${name} = x`}`, next ? next.pos : text.length);
    }
    const known = [...Object.keys(STRING_FIELDS), ...Object.keys(NUMBER_FIELDS), ...FLAGS];
    throw new ExpressionError(`unknown field or flag '${t.value}'${suggestion(t.value, known)}`, t.pos);
  }
  function comparison(name, fieldToken, opToken) {
    const valueToken = peek();
    if (!valueToken || (valueToken.type !== "word" && valueToken.type !== "string")) {
      throw new ExpressionError(`expected a value after '${opToken.value}'`, valueToken ? valueToken.pos : text.length);
    }
    at += 1;
    const op = opToken.value;
    if (name in NUMBER_FIELDS) {
      if (op === "~") throw new ExpressionError(`'~' (contains) only applies to text fields, not '${name}'`, opToken.pos);
      return { type: "compare", field: NUMBER_FIELDS[name], numeric: true, op, value: parseNumber(name, valueToken) };
    }
    if (name in STRING_FIELDS) {
      if (!["=", "!=", "~"].includes(op)) {
        throw new ExpressionError(`'${name}' is text: use =, != or ~ (contains), not '${op}'`, opToken.pos);
      }
      return { type: "compare", field: STRING_FIELDS[name], numeric: false, op, value: valueToken.value.toLowerCase() };
    }
    const known = [...Object.keys(STRING_FIELDS), ...Object.keys(NUMBER_FIELDS)];
    throw new ExpressionError(`unknown field '${fieldToken.value}'${suggestion(fieldToken.value, known)}`, fieldToken.pos);
  }

  // A bare name on its own (the graph opened from a detail page: `find=reviews-v2`) means
  // `name = reviews-v2`; within a longer expression an unknown word stays an error.
  const only = tokens.length === 1 ? tokens[0] : null;
  if (only && (only.type === "string" || (only.type === "word" && !isKnownWord(only.value)))) {
    return { type: "compare", field: "name", numeric: false, op: "=", value: only.value.toLowerCase() };
  }
  const ast = orExpr();
  const rest = peek();
  if (rest) throw new ExpressionError(`unexpected '${rest.value ?? rest.type}' at ${rest.pos + 1}: join conditions with 'and' or 'or'`, rest.pos);
  return ast;
}

function isKnownWord(word) {
  const name = word.toLowerCase();
  return FLAGS.includes(name) || name in STRING_FIELDS || name in NUMBER_FIELDS || ["and", "or", "not"].includes(name);
}

function compareNumber(actual, op, expected) {
  if (actual === null || actual === undefined || Number.isNaN(actual)) return false;
  switch (op) {
    case "=": return actual === expected;
    case "!=": return actual !== expected;
    case ">": return actual > expected;
    case ">=": return actual >= expected;
    case "<": return actual < expected;
    default: return actual <= expected;
  }
}

function compareString(actual, op, expected) {
  const value = actual === null || actual === undefined ? "" : String(actual).toLowerCase();
  if (op === "~") return value.includes(expected);
  return op === "=" ? value === expected : value !== expected;
}

function flagValue(name, subject) {
  switch (name) {
    case "gateway": return Boolean(subject.is_gateway);
    // Where errors start (the API's error_origin): its inbound fails while its own calls do not.
    case "origin": return Boolean(subject.error_origin);
    case "unknown": case "external": return subject.kind === name;
    case "mtls": return typeof subject.mtls === "number" && subject.mtls >= 1;
    default: return subject.health === name;
  }
}

/**
 * Evaluate `ast` against `subject`, a flat description of a node or an edge: string fields
 * (namespace, name, app, version, workload, service, kind, health, cluster, protocol, is_gateway)
 * and numbers (rt, p50, p95, p99, rate, error, client_error, mtls, tcp). A field the subject
 * lacks makes its comparison false (so `protocol = grpc` finds only edges).
 */
export function evaluate(ast, subject) {
  if (ast === null) return true;
  switch (ast.type) {
    case "or": return evaluate(ast.left, subject) || evaluate(ast.right, subject);
    case "and": return evaluate(ast.left, subject) && evaluate(ast.right, subject);
    case "not": return !evaluate(ast.operand, subject);
    case "flag": return flagValue(ast.name, subject);
    default: {
      if (!(ast.field in subject)) return false;
      const actual = subject[ast.field];
      return ast.numeric ? compareNumber(actual, ast.op, ast.value) : compareString(actual, ast.op, ast.value);
    }
  }
}

/**
 * Compile `text` into `{ok: true, test(subject) → boolean, empty}` or
 * `{ok: false, error: {message, position}}`; never throws.
 */
export function compile(text) {
  try {
    const ast = parse(text ?? "");
    return { ok: true, empty: ast === null, test: (subject) => evaluate(ast, subject) };
  } catch (err) {
    if (err instanceof ExpressionError) return { ok: false, error: { message: err.message, position: err.position } };
    throw err;
  }
}
