// Keeping the graph current: the /ws/graph/ protocol of docs/decisions/0005, with polling of
// GET /api/v1/graph as the fallback.
//
// - The websocket subscribes on open, applies snapshots and deltas, answers a seq gap with
//   `resync`, and reconnects with exponential backoff (1 s … 30 s, jittered), resubscribing.
// - A websocket that never opens (refused, 404, closed before open) twice in a row switches
//   to polling at the page's refresh interval; the websocket is retried every minute and
//   polling stops as soon as it opens.
// - A historical view (query_time set) never uses the websocket: the server only streams "now".
// - While the tab is hidden the socket is closed and polling stops; both resume when visible.

import { apiQuery, REFRESHES, subscribeView } from "./urlstate.js";

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const WS_RETRY_WHILE_POLLING_MS = 60000;
const POLL_TIMEOUT_MS = 30000;
const FAILURES_BEFORE_POLLING = 2;

export class LiveFeed {
  /**
   * `handlers`: onSnapshot(graph, {seq, viewKey, refreshS, transport}), onDelta(delta) → true
   * when applied (false: a gap, a resync is sent), onStatus({state, message, ageS, transport}),
   * onError({code, message, field, status}).
   */
  constructor({ wsUrl, apiUrl, handlers }) {
    this.wsUrl = wsUrl;
    this.apiUrl = apiUrl;
    this.h = handlers;
    this.view = null;
    this.ws = null;
    this.wsOpened = false;
    this.failures = 0;
    this.backoffMs = BACKOFF_MIN_MS;
    this.polling = false;
    this.pollTimer = null;
    this.retryTimer = null;
    this.stopped = true;
    this.transport = "none";
    this.pollController = null;
    document.addEventListener("visibilitychange", () => this.#onVisibility());
  }

  /** Start (or restart) following `view`. */
  follow(view) {
    const same = this.view && JSON.stringify(subscribeView(this.view)) === JSON.stringify(subscribeView(view))
      && this.view.queryTime === view.queryTime;
    const refreshChanged = this.view && this.view.refresh !== view.refresh;
    this.view = view;
    if (same && !refreshChanged && !this.stopped) return;
    this.stop();
    this.stopped = false;
    if (document.hidden) return;
    this.#begin();
  }

  /** Stop every connection and timer. */
  stop() {
    this.stopped = true;
    this.#closeSocket();
    this.#stopPolling();
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Fetch a fresh graph now (the `r` key): a resync over the socket, else one poll. */
  refreshNow() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.#send({ type: "resync" });
    else this.#pollOnce();
  }

  get #historical() {
    return this.view.queryTime !== null;
  }

  get #refreshS() {
    return REFRESHES[this.view.refresh] ?? 15;
  }

  #begin() {
    if (this.#refreshS === 0) {
      this.h.onStatus({ state: "paused", message: "Refresh is off", transport: "none" });
      return;
    }
    if (this.#historical || this.failures >= FAILURES_BEFORE_POLLING) this.#startPolling();
    if (!this.#historical) this.#connect();
  }

  #absoluteWsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${this.wsUrl}`;
  }

  #connect() {
    this.#closeSocket();
    this.wsOpened = false;
    if (!this.polling) this.h.onStatus({ state: "connecting", message: "Connecting", transport: "websocket" });
    let ws;
    try {
      ws = new WebSocket(this.#absoluteWsUrl());
    } catch {
      this.#onSocketGone(null);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.wsOpened = true;
      this.failures = 0;
      this.backoffMs = BACKOFF_MIN_MS;
      this.#stopPolling();
      this.transport = "websocket";
      this.#send({ type: "subscribe", view: subscribeView(this.view) });
    };
    ws.onmessage = (event) => this.#onFrame(event.data);
    ws.onclose = (event) => {
      if (event.code === 4401 || event.code === 4403) {
        // Refused for who we are (docs: consumers 4401/4403): retrying cannot help; say why.
        this.ws = null;
        this.h.onError({ code: event.code === 4401 ? "not_authenticated" : "forbidden", message: event.reason || "The live graph refused this session: sign in again.", field: null, status: null });
        return;
      }
      this.#onSocketGone(ws);
    };
  }

  #send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  #onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.type) {
      case "snapshot":
        this.h.onSnapshot(frame.graph, { seq: frame.seq, viewKey: frame.view_key, refreshS: frame.refresh_s, transport: "websocket" });
        this.h.onStatus({ state: "live", message: `Live over websocket (server refresh ${frame.refresh_s ?? "?"} s)`, transport: "websocket" });
        break;
      case "delta":
        if (!this.h.onDelta(frame)) this.#send({ type: "resync" });
        break;
      case "status":
        this.h.onStatus({ state: frame.state, message: frame.message, ageS: frame.age_s, code: frame.code, transport: "websocket" });
        break;
      case "error":
        this.h.onError({ code: frame.code, message: frame.message, field: frame.field ?? null, status: null });
        break;
      default:
        break;
    }
  }

  async #onSocketGone(ws) {
    if (ws !== null && ws !== this.ws) return;
    this.ws = null;
    if (this.stopped || document.hidden) return;
    // A socket that never opened while meshui answers HTTP was refused (no websocket endpoint,
    // a proxy that drops upgrades); while meshui is down altogether, polling would not help.
    if (!this.wsOpened && (await this.#serverAnswers())) this.failures += 1;
    if (this.stopped || document.hidden || this.ws) return;
    if (this.failures >= FAILURES_BEFORE_POLLING) {
      // Refused (no websocket endpoint, a proxy that drops upgrades…): poll, retry now and then.
      this.#startPolling();
      this.retryTimer = setTimeout(() => this.#connect(), WS_RETRY_WHILE_POLLING_MS);
      return;
    }
    const delay = this.backoffMs * (0.75 + Math.random() * 0.5);
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    this.h.onStatus({ state: "reconnecting", message: `Connection lost; reconnecting in ${Math.round(delay / 1000)} s`, transport: "websocket" });
    this.retryTimer = setTimeout(() => this.#connect(), delay);
  }

  async #serverAnswers() {
    try {
      await fetch(this.apiUrl, { method: "OPTIONS", credentials: "same-origin", signal: AbortSignal.timeout(5000) });
      return true;
    } catch {
      return false;
    }
  }

  #closeSocket() {
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.onmessage = null;
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "unsubscribe" }));
      ws.close();
    }
  }

  #startPolling() {
    if (this.polling) return;
    this.polling = true;
    this.transport = "polling";
    const tick = async () => {
      await this.#pollOnce();
      if (this.polling) this.pollTimer = setTimeout(tick, this.#refreshS * 1000);
    };
    tick();
  }

  #stopPolling() {
    this.polling = false;
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
    if (this.pollController) this.pollController.abort();
    this.pollController = null;
  }

  async #pollOnce() {
    const controller = new AbortController();
    this.pollController = controller;
    const timer = setTimeout(() => controller.abort(), POLL_TIMEOUT_MS);
    try {
      const response = await fetch(`${this.apiUrl}?${apiQuery(this.view)}`, {
        credentials: "same-origin", headers: { Accept: "application/json" }, signal: controller.signal,
      });
      const body = await response.json();
      if (response.ok) {
        this.h.onSnapshot(body, { seq: null, viewKey: null, refreshS: this.#refreshS, transport: "polling" });
        const what = this.#historical ? "Historical view" : `Polling every ${this.#refreshS} s`;
        this.h.onStatus({ state: this.#historical ? "historical" : "live", message: what, transport: "polling" });
      } else {
        const err = body.error ?? { code: "http_error", message: `HTTP ${response.status}` };
        this.h.onError({ ...err, field: err.field ?? null, status: response.status });
      }
    } catch (err) {
      if (this.pollController !== controller) return; // stopped or superseded, nobody waits for it
      this.h.onError({ code: "network", message: `meshui did not answer: ${err.message}`, field: null, status: null });
    } finally {
      clearTimeout(timer);
    }
  }

  #onVisibility() {
    if (this.stopped || !this.view) return;
    if (document.hidden) {
      this.#closeSocket();
      this.#stopPolling();
      clearTimeout(this.retryTimer);
      this.h.onStatus({ state: "paused", message: "Paused while the tab is hidden", transport: "none" });
    } else {
      this.#begin();
    }
  }
}
