// theme: the colours the canvases use, read from CSS custom properties (explorer.css) so that
// the figure follows the page's light/dark mode (pydata-sphinx-theme's html[data-theme],
// JupyterLab's theme variables).

// Okabe & Ito's colour-blind-safe palette, the fallback for the plot series.
const SERIES_FALLBACK = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];
const FALLBACK = {
  text: "#222", muted: "#555", rule: "#888", masked: "#d9d9d9", hover: "#e8175d",
  outline: "#111", outlineInner: "#fff", stem: "rgba(232, 23, 93, 0.55)", points: "rgba(90, 90, 90, 0.75)",
};
export const FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
export const SMALL_FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

// "outlineInner" -> "--attn-outline-inner"
const cssName = (key) => `--attn-${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

// A CSS colour string -> [r, g, b, a] bytes, each colour once per page: "#rgb" and "#rrggbb"
// (explorer.css's own colours) by hand, any other CSS syntax through a 1 x 1 canvas, which is
// slow to create and read back.
let probe = null;
const rgbaOf = new Map();
export function rgba(colour) {
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(colour);
  if (hex !== null && !rgbaOf.has(colour)) {
    const digits = hex[1].length === 3 ? hex[1].replace(/./g, "$&$&") : hex[1];
    rgbaOf.set(colour, [0, 2, 4].map((i) => parseInt(digits.slice(i, i + 2), 16)).concat(255));
  }
  if (!rgbaOf.has(colour)) {
    if (probe === null) probe = document.createElement("canvas").getContext("2d", { willReadFrequently: true });
    probe.clearRect(0, 0, 1, 1);
    probe.fillStyle = "#000";
    probe.fillStyle = colour;
    probe.fillRect(0, 0, 1, 1);
    rgbaOf.set(colour, Array.from(probe.getImageData(0, 0, 1, 1).data));
  }
  return rgbaOf.get(colour);
}

// The explorer's colours as resolved for element `el` now.
export function readTheme(el) {
  const style = getComputedStyle(el);
  const theme = {};
  for (const [key, fallback] of Object.entries(FALLBACK)) {
    theme[key] = style.getPropertyValue(cssName(key)).trim() || fallback;
  }
  theme.series = SERIES_FALLBACK.map((c, i) => style.getPropertyValue(`--attn-series-${i + 1}`).trim() || c);
  theme.maskedRGBA = rgba(theme.masked);
  theme.key = Object.values(theme).join("|"); // changes when any colour does
  return theme;
}

// Call `onChange` when the page switches theme (attributes on <html> or <body>); returns a disconnect.
export function watchTheme(onChange) {
  if (typeof MutationObserver === "undefined") return () => {};
  const observer = new MutationObserver(() => onChange());
  const options = { attributes: true, attributeFilter: ["data-theme", "data-mode", "class", "data-jp-theme-light"] };
  observer.observe(document.documentElement, options);
  if (document.body) observer.observe(document.body, options);
  return () => observer.disconnect();
}
