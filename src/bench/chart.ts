// The --chart SVG, written by hand: images/s against images per call (log2
// axis), one line per engine, backend and flip setting; readable on its own
// (title with the machine, axis labels, ticks, legend, a value at each point).
import { isFailure, type RunFailure, type RunResult } from "./protocol.js";
import { fmt } from "./table.js";

export interface ChartContext {
  machine: string;      // machineLine()
  details: string;      // threads, input, versions, commit, date
}

interface Series {
  label: string;
  color: string;
  dashed: boolean;
  marker: "circle" | "square";
  points: { x: number; y: number; labelled: boolean }[];
}

const WIDTH = 900;
const HEIGHT = 540;
const PLOT = { left: 80, right: WIDTH - 250, top: 86, bottom: HEIGHT - 70 };
const COLORS: Record<string, string> = { "mfn cpu": "#1f66b4", "mfn cuda": "#2a9d3a", "onnxruntime-node cpu": "#d4582a" };
const EXTRA_COLORS = ["#8a4fbf", "#b8860b", "#555555"];

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

// A round step (1, 2 or 5 x 10^k) giving about `target` ticks up to max.
function niceStep(max: number, target: number): number {
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

// Two kinds of line per engine/backend/flip: explicit batches (embedBatch,
// one call in flight) and concurrent single-image calls, which start at the
// batch-1 point (one call in flight is both).
function buildSeries(results: readonly RunResult[]): Series[] {
  const groups = new Map<string, Series>();
  let extra = 0;
  const colorOf = (key: string) => COLORS[key] ?? EXTRA_COLORS[extra++ % EXTRA_COLORS.length];
  const colors = new Map<string, string>();
  const add = (r: RunResult, concurrent: boolean, x: number) => {
    const base = `${r.engine} ${r.backend}`;
    if (!colors.has(base)) colors.set(base, colorOf(base));
    const label = `${base}, flip ${r.flip ? "on" : "off"}${concurrent ? ", concurrent embed() calls" : ""}`;
    let s = groups.get(label);
    if (!s) {
      s = { label, color: colors.get(base)!, dashed: concurrent, marker: r.flip ? "circle" : "square", points: [] };
      groups.set(label, s);
    }
    // The batch-1 point of a concurrent line repeats the batch line's: label it once.
    s.points.push({ x, y: r.imagesPerSec, labelled: !(concurrent && r.concurrency === 1) });
  };
  const hasConcurrent = (r: RunResult) =>
    results.some((o) => o.engine === r.engine && o.backend === r.backend && o.flip === r.flip && o.concurrency > 1);
  for (const r of results) {
    if (r.concurrency === 1) add(r, false, r.batch);
    if (r.batch === 1 && (r.concurrency > 1 || hasConcurrent(r))) add(r, true, r.concurrency);
  }
  for (const s of groups.values()) s.points.sort((a, b) => a.x - b.x);
  return [...groups.values()];
}

export function renderChart(rows: readonly (RunResult | RunFailure)[], ctx: ChartContext): string {
  const results = rows.filter((r): r is RunResult => !isFailure(r));
  const series = buildSeries(results);
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const lo = Math.log2(xs.length > 0 ? xs[0] : 1) - 0.5;
  const hi = Math.log2(xs.length > 0 ? xs[xs.length - 1] : 1) + 0.5;
  const yStep = niceStep(Math.max(1, ...ys) * 1.1, 6);
  const yMax = Math.ceil((Math.max(1, ...ys) * 1.1) / yStep) * yStep;
  const px = (x: number) => PLOT.left + ((Math.log2(x) - lo) / (hi - lo)) * (PLOT.right - PLOT.left);
  const py = (y: number) => PLOT.bottom - (y / yMax) * (PLOT.bottom - PLOT.top);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`);
  out.push(`<text x="${WIDTH / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">mfn-bench: images/s vs batch size</text>`);
  out.push(`<text x="${WIDTH / 2}" y="46" text-anchor="middle" font-size="13">${escapeXml(ctx.machine)}</text>`);
  out.push(`<text x="${WIDTH / 2}" y="64" text-anchor="middle" font-size="11" fill="#555">${escapeXml(ctx.details)}</text>`);

  // Grid and y ticks.
  out.push(`<g class="y-axis">`);
  for (let y = 0; y <= yMax + yStep / 2; y += yStep) {
    out.push(`<line x1="${PLOT.left}" y1="${py(y).toFixed(1)}" x2="${PLOT.right}" y2="${py(y).toFixed(1)}" stroke="#e2e2e2"/>`);
    out.push(`<text x="${PLOT.left - 8}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${Number(y.toPrecision(6))}</text>`);
  }
  out.push(`<text transform="translate(22 ${(PLOT.top + PLOT.bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="13">images/s (= embeddings/s), higher is better</text>`);
  out.push(`</g>`);
  // x ticks at every measured size, on a log2 scale.
  out.push(`<g class="x-axis">`);
  for (const x of xs) {
    out.push(`<line x1="${px(x).toFixed(1)}" y1="${PLOT.bottom}" x2="${px(x).toFixed(1)}" y2="${PLOT.bottom + 6}" stroke="#333"/>`);
    out.push(`<text x="${px(x).toFixed(1)}" y="${PLOT.bottom + 20}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 42}" text-anchor="middle" font-size="13">batch size (images per call), log2 scale; dashed: single-image embed() calls in flight</text>`);
  out.push(`</g>`);
  out.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#333"/>`);

  // Series, then the legend.
  for (const s of series) {
    out.push(`<g class="series" data-label="${escapeXml(s.label)}"><title>${escapeXml(s.label)}</title>`);
    const d = s.points.map((p, i) => `${i === 0 ? "M" : "L"}${px(p.x).toFixed(1)} ${py(p.y).toFixed(1)}`).join(" ");
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    for (const p of s.points) {
      const cx = px(p.x).toFixed(1);
      const cy = py(p.y).toFixed(1);
      out.push(s.marker === "circle"
        ? `<circle cx="${cx}" cy="${cy}" r="4" fill="${s.color}"/>`
        : `<rect x="${(px(p.x) - 4).toFixed(1)}" y="${(py(p.y) - 4).toFixed(1)}" width="8" height="8" fill="${s.color}"/>`);
      // Values of concurrent lines go below their points, the others above, so that close points stay legible.
      const ly = s.dashed ? py(p.y) + 16 : py(p.y) - 8;
      if (p.labelled) out.push(`<text x="${cx}" y="${ly.toFixed(1)}" text-anchor="middle" font-size="10" fill="${s.color}">${fmt(p.y)}</text>`);
    }
    out.push(`</g>`);
  }
  out.push(`<g class="legend">`);
  series.forEach((s, i) => {
    const y = PLOT.top + 10 + i * 36;
    const x = PLOT.right + 18;
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 28}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    out.push(s.marker === "circle" ? `<circle cx="${x + 14}" cy="${y}" r="4" fill="${s.color}"/>` : `<rect x="${x + 10}" y="${y - 4}" width="8" height="8" fill="${s.color}"/>`);
    // Long labels wrap after the engine/backend/flip part.
    const [first, ...rest] = s.label.split(", concurrent");
    out.push(`<text x="${x + 36}" y="${y + 4}">${escapeXml(first)}</text>`);
    if (rest.length > 0) out.push(`<text x="${x + 36}" y="${y + 18}">concurrent${escapeXml(rest.join(""))}</text>`);
  });
  if (series.length === 0) out.push(`<text x="${(PLOT.left + PLOT.right) / 2}" y="${(PLOT.top + PLOT.bottom) / 2}" text-anchor="middle">no successful configuration</text>`);
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
