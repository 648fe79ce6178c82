/**
 * Readable contrast, checked on the stylesheet itself: every text colour the
 * console puts on a background (words on panels, tone words on their tinted
 * rows and badges, white on red and blue buttons) reaches WCAG AA (4.5:1),
 * in the light and the dark palette.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "./harness.js";

const css = fs.readFileSync(path.join(ROOT, "web/src/styles.css"), "utf8");

function palette(block: string): Map<string, string> {
  return new Map([...block.matchAll(/--(c-[a-z-]+):\s*(#[0-9a-fA-F]{6})/g)].map((m) => [m[1]!, m[2]!]));
}

const darkAt = css.indexOf("@media (prefers-color-scheme: dark)");
const light = palette(css.slice(css.indexOf(":root {"), darkAt));
const dark = new Map([...light, ...palette(css.slice(darkAt, css.indexOf("}\n}", darkAt)))]);

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** [text, background] as the stylesheet pairs them. */
const PAIRS: [string, string][] = [
  ["c-text", "c-bg"],
  ["c-text", "c-panel"],
  ["c-muted", "c-bg"],
  ["c-muted", "c-panel"],
  ["c-accent", "c-panel"],
  ["c-ok", "c-panel"],
  ["c-warn", "c-panel"],
  ["c-bad", "c-panel"],
  ["c-ok", "c-ok-bg"],
  ["c-warn", "c-warn-bg"],
  ["c-bad", "c-bad-bg"],
  ["c-info", "c-info-bg"],
  ["c-idle", "c-idle-bg"],
  ["c-text", "c-bad-bg"],
  ["c-muted", "c-bad-bg"],
  ["c-muted", "c-warn-bg"],
  ["c-on-strong", "c-bad"],
  ["c-on-strong", "c-accent"],
];

describe("web-console-contrast", () => {
  for (const [name, p] of [["light", light], ["dark", dark]] as const) {
    it(`the ${name} palette reaches 4.5:1 for every text on its background`, () => {
      const low = PAIRS.map(([fg, bg]) => ({ fg, bg, ratio: contrast(p.get(fg)!, p.get(bg)!) })).filter((x) => x.ratio < 4.5);
      assert.deepEqual(low.map((x) => `${x.fg} on ${x.bg}: ${x.ratio.toFixed(2)}`), []);
    });
  }
});
