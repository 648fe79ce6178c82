/** A colour from the stylesheet's custom properties, for canvas drawing (uPlot), which cannot read var(). */
export function cssColor(name: string, fallback = "#888"): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}
