// The onnxruntime-node peer of the detection benchmark: the same detector
// file (models/blazeface_back_256.onnx) on ONNX Runtime's CPU provider with
// the same threads (intra-op = --threads, inter-op 1, denormals flushed),
// plus what mfn does natively around it, written plainly in JavaScript: the
// letterbox (sharp: resize keeping the aspect ratio, black margins), the
// [-1, 1] float input, anchor decoding, weighted NMS, the mapping back to
// photo pixels and the five landmarks (the same calibrated offsets). Its
// pipeline then embeds the faces with mfn (embedBatch with those landmarks),
// so the pipeline ratio compares detection stacks, the embedding being the
// same engine.
import sharp from "sharp";

import type { RawImage } from "../../inputs.js";

type Ort = typeof import("onnxruntime-node");
type Session = Awaited<ReturnType<Ort["InferenceSession"]["create"]>>;

const SIZE = 256;
const IOU = 0.3;
// ArcFace template: eyes, nose, mouth corners.
const TEMPLATE = [38.2946, 51.6963, 73.5318, 51.5014, 56.0252, 71.7366, 41.5493, 92.3655, 70.7299, 92.2041];

export interface PeerFace {
  box: [number, number, number, number];
  score: number;
  landmarks: [number, number][];
}

interface Det { cx: number; cy: number; w: number; h: number; kp: number[]; score: number }

function iou(a: Det, b: Det): number {
  const x0 = Math.max(a.cx - a.w / 2, b.cx - b.w / 2), x1 = Math.min(a.cx + a.w / 2, b.cx + b.w / 2);
  const y0 = Math.max(a.cy - a.h / 2, b.cy - b.h / 2), y1 = Math.min(a.cy + a.h / 2, b.cy + b.h / 2);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  return inter / (a.w * a.h + b.w * b.h - inter);
}

export class OrtDetector {
  private constructor(private readonly session: Session, private readonly align: number[]) {}

  static async open(ort: Ort, model: string, threads: number, align: number[]): Promise<OrtDetector> {
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ["cpu"], intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential",
      logSeverityLevel: 3, extra: { session: { set_denormal_as_zero: "1" } },
    });
    return new OrtDetector(session, align);
  }

  async detect(ort: Ort, image: RawImage, minScore = 0.5): Promise<PeerFace[]> {
    const { width, height } = image;
    const scale = SIZE / Math.max(width, height);
    const w = Math.round(width * scale), h = Math.round(height * scale);
    const ox = Math.floor((SIZE - w) / 2), oy = Math.floor((SIZE - h) / 2);
    const pixels = await sharp(image.data, { raw: { width, height, channels: image.channels } })
      .removeAlpha().resize(w, h).extend({ top: oy, bottom: SIZE - h - oy, left: ox, right: SIZE - w - ox, background: "#000" })
      .raw().toBuffer();
    const input = new Float32Array(SIZE * SIZE * 3);
    for (let i = 0; i < input.length; i++) input[i] = pixels[i]! / 127.5 - 1;
    const out = await this.session.run({ [this.session.inputNames[0]!]: new ort.Tensor("float32", input, [1, SIZE, SIZE, 3]) });
    const names = this.session.outputNames;
    const dets: Det[] = [];
    for (const [s, b, grid, anchors] of [[0, 2, 16, 2], [1, 3, 8, 6]] as const) {
      const scores = out[names[s]!]!.data as Float32Array;
      const boxes = out[names[b]!]!.data as Float32Array;
      for (let i = 0; i < scores.length; i++) {
        const score = 1 / (1 + Math.exp(-Math.min(100, Math.max(-100, scores[i]!))));
        if (!(score >= minScore)) continue;
        const cell = Math.floor(i / anchors);
        const ax = ((cell % grid) + 0.5) / grid * SIZE, ay = (Math.floor(cell / grid) + 0.5) / grid * SIZE;
        const r = boxes.subarray(i * 16, i * 16 + 16);
        const kp: number[] = [];
        for (let k = 0; k < 6; k++) kp.push(ax + r[4 + 2 * k]!, ay + r[5 + 2 * k]!);
        dets.push({ cx: ax + r[0]!, cy: ay + r[1]!, w: r[2]!, h: r[3]!, kp, score });
      }
    }
    dets.sort((a, b) => b.score - a.score);
    const taken = new Array<boolean>(dets.length).fill(false);
    const faces: PeerFace[] = [];
    for (let i = 0; i < dets.length; i++) {
      if (taken[i]) continue;
      let sw = 0;
      const acc = new Array<number>(16).fill(0);
      for (let j = i; j < dets.length; j++) {
        if (taken[j] || (j !== i && !(iou(dets[i]!, dets[j]!) > IOU))) continue;
        taken[j] = true;
        const d = dets[j]!;
        sw += d.score;
        [d.cx, d.cy, d.w, d.h, ...d.kp].forEach((v, k) => { acc[k] = acc[k]! + v * d.score; });
      }
      const m = acc.map((v) => v / sw);
      // Photo pixels: continuous for the box, pixel centres for the points.
      const px = (x: number) => (x - ox) / scale, py = (y: number) => (y - oy) / scale;
      const keys = [0, 1, 2, 3].map((k) => [px(m[4 + 2 * k]!) - 0.5, py(m[5 + 2 * k]!) - 0.5] as [number, number]);
      faces.push({
        box: [px(m[0]! - m[2]! / 2), py(m[1]! - m[3]! / 2), m[2]! / scale, m[3]! / scale],
        score: dets[i]!.score,
        landmarks: this.landmarks(keys),
      });
    }
    return faces;
  }

  /** The five landmarks: each key point minus its calibrated offset in the face's frame (as the engine does). */
  private landmarks(keys: [number, number][]): [number, number][] {
    const al = this.align;
    const n = 4;
    const mx = keys.reduce((s, p) => s + p[0], 0) / n, my = keys.reduce((s, p) => s + p[1], 0) / n;
    let tx = 0, ty = 0;
    for (let k = 0; k < n; k++) { tx += al[2 * k]!; ty += al[2 * k + 1]!; }
    tx /= n; ty /= n;
    let na = 0, nb = 0, den = 0;
    for (let k = 0; k < n; k++) {
      const x = keys[k]![0] - mx, y = keys[k]![1] - my, u = al[2 * k]! - tx, v = al[2 * k + 1]! - ty;
      na += x * u + y * v; nb += x * v - y * u; den += x * x + y * y;
    }
    const a = na / den, b = nb / den, det = a * a + b * b;
    // Offsets template - align mapped back by the inverse linear part.
    return [0, 1, 2, 3, 4].map((k) => {
      const j = k < 3 ? k : 3;
      const du = TEMPLATE[2 * k]! - al[2 * j]!, dv = TEMPLATE[2 * k + 1]! - al[2 * j + 1]!;
      return [keys[j]![0] + (a * du + b * dv) / det, keys[j]![1] + (-b * du + a * dv) / det];
    });
  }

  close(): Promise<void> {
    return this.session.release();
  }
}
