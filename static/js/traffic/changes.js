// The Changes page: "Revert" first shows the diff the revert will write (the change's own diff,
// inverted: a revert applies only while nothing changed since) and asks to confirm; "Confirm
// revert" posts to the API; 200 reloads the list (the revert is itself a change), 409 shows the
// diff of what changed since, anything else the API's message.

import { revertChange } from "./api.js";
import { diffHtml } from "./editor.js";

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** The change's unified diff turned around: what reverting it writes. */
export function invertDiff(diff) {
  return String(diff ?? "").split("\n").map((line) => {
    if (line.startsWith("--- before")) return "--- now";
    if (line.startsWith("+++ after")) return "+++ after revert";
    if (line.startsWith("@@")) return line.replace(/^@@ -(\S+) \+(\S+) @@/, "@@ -$2 +$1 @@");
    if (line.startsWith("+")) return `-${line.slice(1)}`;
    if (line.startsWith("-")) return `+${line.slice(1)}`;
    return line;
  }).join("\n");
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-revert]");
  if (!button) return;
  const item = button.closest("[data-change-id]");
  const out = item.querySelector("[data-testid='revert-result']");
  const diff = item.querySelector("[data-testid='change-diff']")?.textContent ?? "";
  out.dataset.kind = "";
  out.innerHTML = `<p><strong>Revert change #${esc(button.dataset.revert)}?</strong> It writes this to ${esc(item.dataset.service)}:</p>
    <div data-testid="revert-preview">${diffHtml(invertDiff(diff))}</div>
    <p><button type="button" class="button button-small" data-confirm-revert="${esc(button.dataset.revert)}" data-testid="revert-confirm">Confirm revert</button>
    <button type="button" class="button button-small button-secondary" data-cancel-revert data-testid="revert-cancel">Cancel</button></p>`;
  button.disabled = true;
});

document.addEventListener("click", (event) => {
  const cancel = event.target.closest("button[data-cancel-revert]");
  if (!cancel) return;
  const item = cancel.closest("[data-change-id]");
  item.querySelector("[data-testid='revert-result']").replaceChildren();
  item.querySelector("button[data-revert]").disabled = false;
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-confirm-revert]");
  if (!button) return;
  const item = button.closest("[data-change-id]");
  const out = item.querySelector("[data-testid='revert-result']");
  const revert = item.querySelector("button[data-revert]");
  button.disabled = true;
  out.dataset.kind = "";
  out.textContent = "Reverting…";
  const result = await revertChange(button.dataset.confirmRevert);
  if (result.ok) {
    out.dataset.kind = "ok";
    out.textContent = `Reverted (change #${result.body.change_id}). Reloading…`;
    location.reload();
    return;
  }
  revert.disabled = false;
  const error = result.body.error;
  out.dataset.kind = "error";
  if (result.status === 409 && error.code === "revert_conflict") {
    const editor = `/namespaces/${encodeURIComponent(item.dataset.namespace)}/services/${encodeURIComponent(item.dataset.service)}#traffic`;
    out.innerHTML = `<strong>Not reverted: the routing changed since this change.</strong> ${esc(error.message)}
      <p>From the routing as it is now to this change's "before":</p>${diffHtml(error.details?.diff ?? "")}
      <p><a href="${esc(editor)}" data-testid="revert-editor-link">Change the routing of ${esc(item.dataset.service)} from its page</a></p>`;
  } else {
    out.innerHTML = `<strong>Not reverted.</strong> ${esc(error.message)}`;
  }
});
