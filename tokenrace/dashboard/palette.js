// Provider colours, the same in chips, columns, chart, legend and bars.
//
// Tableau 10 (Maureen Stone's 2016 palette, made to keep ten series apart on light and dark grounds), then
// the page's ink (near-black, or near-white in the dark theme) as an 11th, so the eleven built-in providers
// all differ in colour. No palette keeps more than about eight colours apart for every colour-vision
// deficiency, so colour is never the only cue: every chart line carries its provider's name at its end, and
// from the 12th provider on the colours repeat with a dashed line and a dashed column edge.
export const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                        "#9c755f", "#bab0ac", "var(--ink)"];

export const colorOf = (i) => PALETTE[i % PALETTE.length];

/** A canvas dash pattern for the n-th provider: solid for the first round of colours, then dashed, dotted. */
export const DASHES = [[], [7, 4], [2, 3]];
export const dashOf = (i) => DASHES[Math.floor(i / PALETTE.length) % DASHES.length];

/** A colour a canvas can use (a CSS variable resolved against the current theme). */
export function resolveColor(c) {
  const m = /^var\((--[\w-]+)\)$/.exec(c);
  if (!m) return c;
  return getComputedStyle(document.documentElement).getPropertyValue(m[1]).trim() || "#888";
}
