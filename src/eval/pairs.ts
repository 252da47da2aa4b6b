// Readers for the LFW protocol files: pairs.txt (View 2: a header, then per
// fold N same-person lines followed by N different-person lines) and a
// five-point landmark file ("path x1 y1 ... x5 y5", 0-based pixel centres).
// Pure parsing; every malformed line is reported with its line number.

export interface Pair {
  /** Image paths relative to the image folder, e.g. "Zico/Zico_0001.jpg". */
  a: string;
  b: string;
  same: boolean;
  /** 0-based fold: the pair's position in the file divided by the fold size. */
  fold: number;
}

export interface PairsFile {
  folds: number;
  /** Pairs per fold (same + different), 600 for the standard protocol. */
  foldSize: number;
  pairs: Pair[];
}

/** Five [x, y] points: left eye, right eye, nose, left and right mouth corners. */
export type FivePoints = [number, number][];

export function imagePath(name: string, index: number): string {
  return `${name}/${name}_${String(index).padStart(4, "0")}.jpg`;
}

function imageIndex(text: string, lineNo: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) throw new Error(`pairs line ${lineNo}: bad image number "${text}"`);
  return n;
}

/**
 * Parses an LFW-format pairs file. The header is "folds perHalf" (View 2:
 * "10 300") or a single count (View 1 files: one fold). Folds are contiguous:
 * fold k holds lines k*foldSize .. (k+1)*foldSize - 1, as in the insightface
 * evaluation (KFold without shuffling).
 */
export function parsePairs(text: string): PairsFile {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === "") lines.pop();
  if (lines.length === 0) throw new Error("pairs file is empty");
  const header = lines[0]!.trim().split(/\s+/).map(Number);
  if (header.length < 1 || header.length > 2 || !header.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`pairs line 1: expected "folds pairsPerHalf" or "pairsPerHalf", got "${lines[0]}"`);
  }
  const folds = header.length === 2 ? header[0]! : 1;
  const perHalf = header.length === 2 ? header[1]! : header[0]!;
  const foldSize = 2 * perHalf;
  const body = lines.slice(1);
  if (body.length !== folds * foldSize) {
    throw new Error(`pairs file: header promises ${folds * foldSize} pairs (${folds} x ${foldSize}), found ${body.length} lines`);
  }
  const pairs = body.map((line, i): Pair => {
    const lineNo = i + 2;
    const f = line.trim().split(/\s+/);
    const fold = Math.floor(i / foldSize);
    if (f.length === 3) {
      return { a: imagePath(f[0]!, imageIndex(f[1]!, lineNo)), b: imagePath(f[0]!, imageIndex(f[2]!, lineNo)), same: true, fold };
    }
    if (f.length === 4) {
      return { a: imagePath(f[0]!, imageIndex(f[1]!, lineNo)), b: imagePath(f[2]!, imageIndex(f[3]!, lineNo)), same: false, fold };
    }
    throw new Error(`pairs line ${lineNo}: expected "name i j" or "name1 i name2 j", got "${line}"`);
  });
  return { folds, foldSize, pairs };
}

/** Parses a landmark file into path -> five [x, y] points. */
export function parseLandmarks(text: string): Map<string, FivePoints> {
  const out = new Map<string, FivePoints>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    const [path, ...rest] = line.trim().split(/\s+/);
    const v = rest.map(Number);
    if (v.length !== 10 || !v.every(Number.isFinite)) {
      throw new Error(`landmarks line ${i + 1}: expected "path x1 y1 ... x5 y5", got "${line}"`);
    }
    out.set(path!, [0, 2, 4, 6, 8].map((k) => [v[k]!, v[k + 1]!] as [number, number]));
  });
  return out;
}

/**
 * Parses a 1-based fold selection such as "1-10", "1,2" or "1-3,7" into
 * sorted distinct 0-based fold indices, all below `folds`.
 */
export function parseFoldSelection(spec: string, folds: number): number[] {
  const chosen = new Set<number>();
  for (const part of spec.split(",")) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new Error(`--folds: cannot read "${part}" (use e.g. 1-10 or 1,2)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > folds || lo > hi) throw new Error(`--folds: "${part.trim()}" is outside 1-${folds}`);
    for (let k = lo; k <= hi; k++) chosen.add(k - 1);
  }
  return [...chosen].sort((x, y) => x - y);
}

/** The distinct image paths of `pairs`, in first-use order. */
export function distinctImages(pairs: readonly Pair[]): string[] {
  const seen = new Set<string>();
  for (const p of pairs) {
    seen.add(p.a);
    seen.add(p.b);
  }
  return [...seen];
}
