// The Changes page: "Revert" posts to the API; 200 reloads the list (the revert is itself a
// change), 409 shows the diff of what changed since, anything else the API's message.

import { revertChange } from "./api.js";
import { diffHtml } from "./editor.js";

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-revert]");
  if (!button) return;
  const item = button.closest("[data-change-id]");
  const out = item.querySelector("[data-testid='revert-result']");
  button.disabled = true;
  out.dataset.kind = "";
  out.textContent = "Reverting…";
  const result = await revertChange(button.dataset.revert);
  if (result.ok) {
    out.dataset.kind = "ok";
    out.textContent = `Reverted (change #${result.body.change_id}). Reloading…`;
    location.reload();
    return;
  }
  button.disabled = false;
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
