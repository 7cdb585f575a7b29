// Styles computed per element (bar widths, service colours) for HTML built as strings.
//
// meshui's Content-Security-Policy (docs/decisions/0020-sign-in-limits-and-csp.md) refuses
// style attributes in markup, but allows styles set through the CSSOM (element.style). Such
// HTML writes data-style="left:12%;width:3%" instead, and the code that inserts it calls
// applyDataStyles on the container once.

/** Set each `[data-style]` element's declarations under `root` through the CSSOM, then drop the attribute. */
export function applyDataStyles(root) {
  for (const el of root.querySelectorAll("[data-style]")) {
    for (const declaration of el.dataset.style.split(";")) {
      const colon = declaration.indexOf(":");
      if (colon > 0) el.style.setProperty(declaration.slice(0, colon).trim(), declaration.slice(colon + 1).trim());
    }
    el.removeAttribute("data-style");
  }
}
