// One rule for the time window on every page: the window an operator picks on any page (graph,
// overview, lists, detail pages) is remembered in this browser and carried to every other page
// until they pick another; a `window` in the URL (a shared link) always wins. Pure but for
// localStorage, which may be unavailable (private mode): then each page keeps its own default.

const KEY = "meshui.window";
export const WINDOW_RULE = "The window you pick applies on every page until you change it.";

/** Remember `window` (e.g. "1h") as the operator's choice. */
export function rememberWindow(window) {
  try { localStorage.setItem(KEY, window); } catch { /* storage refused: nothing to carry */ }
}

/** The remembered choice, or null. */
export function rememberedWindow() {
  try { return localStorage.getItem(KEY); } catch { return null; }
}

/**
 * The window a page opens with: the URL's when it has one, else the remembered choice when the
 * page offers it (`allowed`: its selector's values; null accepts any), else `fallback`.
 */
export function initialWindow(search, allowed, fallback) {
  const fromUrl = new URLSearchParams(search).get("window");
  if (fromUrl) return fromUrl;
  const remembered = rememberedWindow();
  if (remembered && (!allowed || allowed.includes(remembered))) return remembered;
  return fallback;
}
