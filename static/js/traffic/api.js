// The traffic API from the browser: session cookie + Django's CSRF token, ETag/If-Match.
// Every call resolves to {ok, status, body, etag}; network failures resolve too (status 0,
// an error envelope), so callers have one shape to render.

export const API_ROOT = "/api/v1/";
const TIMEOUT_MS = 15000;

/** Django's `csrftoken` cookie (empty when there is none, e.g. anonymous read). */
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export function trafficUrl(namespace, service) {
  return `${API_ROOT}namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(service)}/traffic`;
}

async function call(url, { method = "GET", body, headers = {} } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const init = { method, credentials: "same-origin", signal: controller.signal, headers: { Accept: "application/json", ...headers } };
  if (method !== "GET") init.headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const response = await fetch(url, init);
    let parsed = null;
    try { parsed = await response.json(); } catch { parsed = null; }
    if (!response.ok && !parsed?.error) {
      parsed = { error: { code: "http_error", message: `The server answered ${response.status}.`, field: null } };
    }
    return { ok: response.ok, status: response.status, body: parsed, etag: response.headers.get("ETag") };
  } catch (error) {
    const message = error.name === "AbortError" ? `No answer within ${TIMEOUT_MS / 1000} s.` : "The server could not be reached.";
    return { ok: false, status: 0, body: { error: { code: "network_error", message, field: null } }, etag: null };
  } finally {
    clearTimeout(timer);
  }
}

export function getTraffic(namespace, service) {
  return call(trafficUrl(namespace, service));
}

/** PATCH `patch`; `version` goes out as If-Match; `dryRun` asks for the would-be state and diff only. */
export function patchTraffic(namespace, service, patch, { version, dryRun = false } = {}) {
  const headers = version ? { "If-Match": `"${version}"` } : {};
  return call(`${trafficUrl(namespace, service)}${dryRun ? "?dry_run=true" : ""}`, { method: "PATCH", body: patch, headers });
}

export function getIstioConfig(namespace) {
  return call(`${API_ROOT}istio-config${namespace ? `?namespace=${encodeURIComponent(namespace)}` : ""}`);
}

export function revertChange(id) {
  return call(`${API_ROOT}changes/${encodeURIComponent(id)}/revert`, { method: "POST" });
}
