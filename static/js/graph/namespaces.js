// The namespace multi-select of the toolbar: checkboxes from GET /api/v1/namespaces.

import { apiQuery } from "./urlstate.js";

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export class NamespacePicker {
  /** `root`: the <details> of the toolbar; `onChange(selectedNames)` after each (un)tick. */
  constructor({ root, url, onChange }) {
    this.root = root;
    this.url = url;
    this.onChange = onChange;
    this.options = root.querySelector("#ns-options");
    this.label = root.querySelector("#ns-summary");
    this.known = [];
    this.selected = [];
    this.options.addEventListener("change", (event) => {
      event.stopPropagation();
      if (event.target.name === "ns-all") this.selected = [];
      else this.selected = [...this.options.querySelectorAll("input[name=ns]:checked")].map((i) => i.value).sort();
      this.#render();
      this.onChange(this.selected);
    });
  }

  setSelected(names) {
    this.selected = [...names].sort();
    this.#render();
  }

  /** Read the namespaces seen over the view's window; a failure keeps the list it had. */
  async load(view) {
    const params = new URLSearchParams(apiQuery(view));
    const query = new URLSearchParams({ window: params.get("window") });
    if (params.has("query_time")) query.set("query_time", params.get("query_time"));
    try {
      const response = await fetch(`${this.url}?${query}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const body = await response.json();
      this.known = body.namespaces.map((ns) => ({ name: ns.name, health: ns.health }));
      this.#render();
    } catch {
      // The graph's own error state tells the user; the picker keeps its last list.
    }
  }

  #render() {
    const names = new Map(this.known.map((ns) => [ns.name, ns.health]));
    for (const name of this.selected) if (!names.has(name)) names.set(name, null);
    const all = this.selected.length === 0;
    this.label.textContent = all ? "All namespaces" : this.selected.length <= 2 ? this.selected.join(", ") : `${this.selected.length} namespaces`;
    const items = [...names.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([name, health]) => `
      <label><input type="checkbox" name="ns" value="${esc(name)}"${this.selected.includes(name) ? " checked" : ""}>
        ${esc(name)}${health ? ` <span class="health health-${esc(health)}">${esc(health)}</span>` : ""}</label>`).join("");
    this.options.innerHTML = `<label><input type="checkbox" name="ns-all"${all ? " checked" : ""}> All namespaces</label>${items || '<p class="muted small">No namespaces seen in this window.</p>'}`;
  }
}
