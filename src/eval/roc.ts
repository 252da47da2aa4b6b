// ROC curves (TAR vs FAR, log FAR axis) as a standalone SVG, no dependencies.
import type { RocPoint } from "./protocol.js";

export interface RocSeries {
  label: string;
  points: RocPoint[];
  /** Marked on the curve, e.g. TAR at FAR = 1e-3. */
  marker?: RocPoint;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const W = 820;
const H = 500;
const M = { left: 70, right: 24, top: 64, bottom: 56 };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function fmt(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

/**
 * The points worth drawing on a log-FAR axis: FAR > 0, for each FAR value
 * only its lowest and highest TAR (the vertical step), and nothing after TAR
 * first reaches 1 except the end point (1, 1).
 */
export function thinRoc(points: readonly RocPoint[]): RocPoint[] {
  const out: RocPoint[] = [];
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    if (p.far <= 0) continue;
    const prev = points[i - 1];
    const next = points[i + 1];
    const firstOfFar = !prev || prev.far !== p.far;
    const lastOfFar = !next || next.far !== p.far;
    if (firstOfFar || lastOfFar) out.push(p);
    if (p.tar >= 1 && lastOfFar) break;
  }
  const last = out[out.length - 1];
  if (last && (last.far < 1 || last.tar < 1)) out.push({ far: 1, tar: 1 });
  return out;
}

export function renderRocSvg(series: readonly RocSeries[], title: string, subtitle = ""): string {
  const thinned = series.map((s) => thinRoc(s.points));
  const smallestFar = Math.min(...thinned.flatMap((ps) => ps.map((p) => p.far)), 1e-3);
  const xMinExp = Math.floor(Math.log10(smallestFar));
  // The y range starts below the lowest TAR visible on the axis, in steps of 0.05.
  const lowestTar = Math.min(...thinned.flatMap((ps) => ps.map((p) => p.tar)), 0.95);
  const yMin = Math.max(0, Math.floor(lowestTar * 20) / 20);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (far: number) => M.left + ((Math.log10(far) - xMinExp) / -xMinExp) * pw;
  const y = (tar: number) => M.top + (1 - (tar - yMin) / (1 - yMin)) * ph;

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  if (subtitle) parts.push(`<text x="${W / 2}" y="44" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`);

  // Grid and ticks: decades on x, 0.01/0.02/0.05/0.1 steps on y.
  for (let e = xMinExp; e <= 0; e++) {
    const px = fmt(x(10 ** e));
    parts.push(`<line x1="${px}" y1="${M.top}" x2="${px}" y2="${M.top + ph}" stroke="#ddd"/>`);
    parts.push(`<text x="${px}" y="${M.top + ph + 18}" text-anchor="middle">${e === 0 ? "1" : `1e${e}`}</text>`);
  }
  const span = 1 - yMin;
  const step = [0.01, 0.02, 0.05, 0.1, 0.2].find((s) => span / s <= 10) ?? 0.2;
  for (let k = 0; ; k++) {
    const t = Math.round((yMin + k * step) * 1000) / 1000;
    if (t > 1 + 1e-9) break;
    const py = fmt(y(t));
    parts.push(`<line x1="${M.left}" y1="${py}" x2="${M.left + pw}" y2="${py}" stroke="#ddd"/>`);
    parts.push(`<text x="${M.left - 8}" y="${py}" text-anchor="end" dominant-baseline="middle">${t.toFixed(2)}</text>`);
  }
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 14}" text-anchor="middle">False accept rate (log scale)</text>`);
  parts.push(`<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">True accept rate</text>`);

  thinned.forEach((ps, i) => {
    const color = COLORS[i % COLORS.length]!;
    const d = ps.map((p, k) => `${k === 0 ? "M" : "L"}${fmt(x(p.far))} ${fmt(y(Math.max(p.tar, yMin)))}`).join("");
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"/>`);
    const m = series[i]!.marker;
    if (m && m.far > 0) parts.push(`<circle cx="${fmt(x(m.far))}" cy="${fmt(y(Math.max(m.tar, yMin)))}" r="4" fill="${color}"/>`);
    const ly = M.top + ph - 16 - (thinned.length - 1 - i) * 20;
    parts.push(`<line x1="${M.left + pw - 250}" y1="${ly}" x2="${M.left + pw - 222}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    parts.push(`<text x="${M.left + pw - 214}" y="${ly}" dominant-baseline="middle">${esc(series[i]!.label)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
