// examples/server: the HTTP service as a user runs it (a child process on
// 127.0.0.1, port 0): its endpoints give the library's own embeddings, its
// errors have the documented statuses and codes, it sheds load with 429 and
// drains with 503 on SIGTERM; and a bounded autocannon load on loopback
// finishes with no errors.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { join } from "node:path";
import { crc32 } from "node:zlib";

import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Embedder, createEmbedder } from "../src/index.js";
import { packageRoot } from "../src/native.js";
import { hasLfw, imageSpread, landmarksOf, readImage } from "./helpers/lfw.js";
import { noiseImage } from "./helpers/tensors.js";

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

const script = join(packageRoot, "examples", "server", "server.mjs");

interface Service {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Starts the example on 127.0.0.1 with an ephemeral port; resolves once it listens. */
async function startService(env: Record<string, string> = {}): Promise<Service> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", MFN_BACKEND: "cpu", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr!.on("data", (chunk: Buffer) => { output += chunk.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 60_000);
    child.stdout!.on("data", () => {
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
  return { child, url, output: () => output };
}

async function stopService(service: Service | undefined): Promise<number | null> {
  if (!service || service.child.exitCode !== null) return service?.child.exitCode ?? null;
  service.child.kill("SIGTERM");
  const [code] = await once(service.child, "exit") as [number | null];
  return code;
}

async function post(url: string, body: Buffer | string, type: string) {
  const response = await fetch(url, { method: "POST", body, headers: { "content-type": type } });
  return { status: response.status, headers: response.headers, json: await response.json() as Record<string, any> };
}

const json = (value: unknown) => JSON.stringify(value);

/** A real face (LFW) when the data set is here, else a PNG of noise; with landmarks that fit it. */
async function sampleFace(index: number): Promise<{ bytes: Buffer; landmarks: [number, number][] }> {
  if (hasLfw) {
    const path = imageSpread(8)[index]!;
    return { bytes: readImage(path), landmarks: landmarksOf(path) as [number, number][] };
  }
  const raw = noiseImage(160, 160, 3, index + 1);
  const bytes = await sharp(raw.data, { raw: { width: 160, height: 160, channels: 3 } }).png().toBuffer();
  return { bytes, landmarks: [[56, 64], [104, 64], [80, 88], [60, 115], [100, 115]] };
}

/** A valid PNG header that declares width x height (the pixels themselves are 8x8). */
async function declaredPng(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: "#808080" } })
    .png().toBuffer());
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);  // the IHDR chunk's CRC
  return png;
}

function sameBits(row: number[], expected: Float32Array): boolean {
  return row.length === expected.length && Float32Array.from(row).every((x, i) => Object.is(x, expected[i]));
}

describe("examples/server", () => {
  let service: Service;
  let local: Embedder;
  let face: { bytes: Buffer; landmarks: [number, number][] };
  let other: { bytes: Buffer; landmarks: [number, number][] };

  beforeAll(async () => {
    [service, local, face, other] = await Promise.all([
      startService(), createEmbedder({ backend: "cpu" }), sampleFace(0), sampleFace(5),
    ]);
  });

  afterAll(async () => {
    const code = await stopService(service);
    await local?.dispose();
    expect(code).toBe(0);
  });

  it("GET /health", async () => {
    const response = await fetch(`${service.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "ok", backend: "cpu" });
  });

  it("POST /embed with a raw image body gives the library's embedding, bit for bit", async () => {
    const { status, json: body } = await post(`${service.url}/embed`, face.bytes, hasLfw ? "image/jpeg" : "image/png");
    expect(status).toBe(200);
    expect(body.dimensions).toBe(512);
    expect(sameBits(body.embedding, await local.embed(face.bytes))).toBe(true);
    const points = face.landmarks.flat().join(",");
    const aligned = await post(`${service.url}/embed?landmarks=${points}`, face.bytes, "image/jpeg");
    expect(sameBits(aligned.json.embedding, await local.embed(face.bytes, { landmarks: face.landmarks }))).toBe(true);
  });

  it("POST /embed with JSON: one base64 image with landmarks, or a batch", async () => {
    const one = await post(`${service.url}/embed`,
      json({ image: face.bytes.toString("base64"), landmarks: face.landmarks }), "application/json");
    expect(one.status).toBe(200);
    expect(sameBits(one.json.embedding, await local.embed(face.bytes, { landmarks: face.landmarks }))).toBe(true);
    const many = await post(`${service.url}/embed`,
      json({ images: [face.bytes.toString("base64"), { image: other.bytes.toString("base64") }] }), "application/json");
    expect(many.status).toBe(200);
    const expected = await local.embedBatch([face.bytes, other.bytes]);
    expect(many.json.embeddings.length).toBe(2);
    expect(sameBits(many.json.embeddings[0], expected[0]!)).toBe(true);
    expect(sameBits(many.json.embeddings[1], expected[1]!)).toBe(true);
  });

  it("POST /verify compares two faces", async () => {
    const same = await post(`${service.url}/verify`,
      json({ a: face.bytes.toString("base64"), b: { image: face.bytes.toString("base64") } }), "application/json");
    expect(same.status).toBe(200);
    expect(same.json.similarity).toBeGreaterThan(0.9999);
    expect(same.json.match).toBe(true);
    const pair = await post(`${service.url}/verify`,
      json({ a: { image: face.bytes.toString("base64"), landmarks: face.landmarks },
             b: { image: other.bytes.toString("base64"), landmarks: other.landmarks }, threshold: 0.5 }),
      "application/json");
    expect(pair.status).toBe(200);
    const expected = await local.verify(await local.embed(face.bytes, { landmarks: face.landmarks }),
                                        await local.embed(other.bytes, { landmarks: other.landmarks }), { threshold: 0.5 });
    expect(pair.json).toEqual(expected);
  });

  it("POST /faces finds the face of a photo and embeds it like embedFaces, bit for bit", async () => {
    const { status, json: body } = await post(`${service.url}/faces`, face.bytes, hasLfw ? "image/jpeg" : "image/png");
    expect(status).toBe(200);
    const expected = await local.embedFaces(face.bytes);
    expect(body.faces.length).toBe(expected.length);
    if (hasLfw) expect(body.faces.length).toBeGreaterThanOrEqual(1);
    body.faces.forEach((f: { box: object; score: number; landmarks: number[][]; embedding: number[] }, i: number) => {
      expect(f.box).toEqual(expected[i]!.box);
      expect(f.landmarks).toEqual(expected[i]!.landmarks);
      expect(sameBits(f.embedding, expected[i]!.embedding)).toBe(true);
    });
    const boxes = await post(`${service.url}/faces`,
      json({ image: face.bytes.toString("base64"), embeddings: false, maxFaces: 1 }), "application/json");
    expect(boxes.status).toBe(200);
    expect(boxes.json.faces.length).toBe(Math.min(1, expected.length));
    expect(boxes.json.faces[0]?.embedding).toBeUndefined();
    const bad = await post(`${service.url}/faces?maxFaces=0`, face.bytes, "image/jpeg");
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("MFN_INVALID_ARGUMENT");
  });

  it("answers bad requests with 4xx and a code", async () => {
    const cases: [Promise<{ status: number; json: Record<string, any> }>, number, string][] = [
      [post(`${service.url}/embed`, "{not json", "application/json"), 400, "INVALID_JSON"],
      [post(`${service.url}/embed`, json({ image: "@@@" }), "application/json"), 400, "INVALID_BASE64"],
      [post(`${service.url}/embed`, json({ image: Buffer.from("not an image").toString("base64") }), "application/json"),
       400, "MFN_DECODE_FAILED"],
      [post(`${service.url}/embed`, json({ image: face.bytes.toString("base64"), landmarks: [[1, 2]] }), "application/json"),
       400, "MFN_INVALID_LANDMARKS"],
      [post(`${service.url}/embed?landmarks=1,2,3`, face.bytes, "image/jpeg"), 400, "MFN_INVALID_LANDMARKS"],
      [post(`${service.url}/embed`, json({ images: [] }), "application/json"), 400, "MFN_INVALID_ARGUMENT"],
      [post(`${service.url}/verify`, json({ a: face.bytes.toString("base64") }), "application/json"), 400, "MFN_INVALID_ARGUMENT"],
      [post(`${service.url}/embed`, "hello", "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE"],
      [post(`${service.url}/embed`, Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'),
            "image/png"), 415, "UNSUPPORTED_IMAGE_FORMAT"],
      [post(`${service.url}/verify`, face.bytes, "image/jpeg"), 415, "UNSUPPORTED_MEDIA_TYPE"],
      [post(`${service.url}/embed`, Buffer.alloc(8 * 2 ** 20 + 1), "image/jpeg"), 413, "BODY_TOO_LARGE"],
      [post(`${service.url}/nowhere`, "x", "text/plain"), 404, "NOT_FOUND"],
    ];
    for (const [request, status, code] of cases) {
      const response = await request;
      expect({ status: response.status, code: response.json.error?.code }).toEqual({ status, code });
    }
    const wide = await sharp({ create: { width: 5000, height: 8, channels: 3, background: "#808080" } }).png().toBuffer();
    const tooWide = await post(`${service.url}/embed`, wide, "image/png");
    expect([tooWide.status, tooWide.json.error.code]).toEqual([413, "IMAGE_TOO_LARGE"]);
    // A header alone that declares 60000x60000 is too large, not unreadable.
    const huge = await post(`${service.url}/embed`, await declaredPng(60000, 60000), "image/png");
    expect([huge.status, huge.json.error.code]).toEqual([413, "IMAGE_TOO_LARGE"]);
    const wrongMethod = await fetch(`${service.url}/embed`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    // Still serving after all of that.
    expect((await post(`${service.url}/embed`, face.bytes, "image/jpeg")).status).toBe(200);
  });

  it("refuses with 413 a request whose in-limit images add up past the pixel budget", async () => {
    // 64 PNGs of 4096x4096 (55 KB each): 1 Gi pixels, 3 GiB once decoded.
    const big = await sharp({ create: { width: 4096, height: 4096, channels: 3, background: "#808080" } })
      .png({ compressionLevel: 9 }).toBuffer();
    const many = await post(`${service.url}/embed`, json({ images: Array(64).fill(big.toString("base64")) }),
                            "application/json");
    expect([many.status, many.json.error.code]).toEqual([413, "REQUEST_TOO_MANY_PIXELS"]);
    // The default budget (32 Mi pixels) is two such images: a third is refused.
    const three = await post(`${service.url}/embed`, json({ images: Array(3).fill(big.toString("base64")) }),
                             "application/json");
    expect([three.status, three.json.error.code]).toEqual([413, "REQUEST_TOO_MANY_PIXELS"]);
    // One such image is within the budget.
    expect((await post(`${service.url}/embed`, big, "image/png")).status).toBe(200);
  });

  it("answers 429 SERVER_BUSY while other requests hold the server's pixel allowance", async () => {
    const { width = 0, height = 0 } = await sharp(face.bytes).metadata();
    // Room for one image at a time; the first waits a second in the queue for company.
    const busy = await startService({ MAX_PIXELS_IN_FLIGHT: String(Math.floor(width * height * 1.5)),
                                      MFN_MAX_DELAY_US: "1000000" });
    try {
      const type = hasLfw ? "image/jpeg" : "image/png";
      const first = post(`${busy.url}/embed`, face.bytes, type);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const second = await post(`${busy.url}/embed`, face.bytes, type);
      expect([second.status, second.json.error.code, second.headers.get("retry-after")])
        .toEqual([429, "SERVER_BUSY", "1"]);
      expect((await first).status).toBe(200);
      // Released once answered.
      expect((await post(`${busy.url}/embed`, face.bytes, type)).status).toBe(200);
    } finally {
      await stopService(busy);
    }
  });

  it("exits within its drain deadline on SIGTERM while an upload stalls", async () => {
    const slow = await startService({ DRAIN_TIMEOUT_MS: "1500" });
    const socket = connect(Number(new URL(slow.url).port), "127.0.0.1");
    try {
      await once(socket, "connect");
      // Headers and a sliver of a 100 kB body, then nothing.
      socket.write("POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n" +
                   "Content-Length: 100000\r\n\r\n" + "x".repeat(100));
      socket.on("error", () => {});
      await new Promise((resolve) => setTimeout(resolve, 300));
      const start = Date.now();
      slow.child.kill("SIGTERM");
      const exited = once(slow.child, "exit") as Promise<[number | null]>;
      const late = new Promise<"late">((resolve) => setTimeout(resolve, 10_000, "late"));
      const result = await Promise.race([exited, late]);
      expect(result).not.toBe("late");
      expect(Date.now() - start).toBeLessThan(1500 + 3000);
      expect((result as [number | null])[0]).toBe(0);
      expect(slow.output()).toMatch(/drain deadline \(1500 ms\): cutting 1 request/);
    } finally {
      socket.destroy();
      slow.child.kill("SIGKILL");
    }
  });

  it("sheds load with 429 when the queue is full, and drains with 503 on SIGTERM", async () => {
    // One image of queue, and a long wait for company: the first request holds the queue.
    const tight = await startService({ MFN_MAX_QUEUE: "1", MFN_MAX_DELAY_US: "1000000" });
    try {
      const first = post(`${tight.url}/embed`, face.bytes, "image/jpeg");
      await new Promise((resolve) => setTimeout(resolve, 200));
      const second = await post(`${tight.url}/embed`, face.bytes, "image/jpeg");
      expect(second.status).toBe(429);
      expect(second.json.error.code).toBe("MFN_QUEUE_FULL");
      expect(second.headers.get("retry-after")).toBe("1");
      tight.child.kill("SIGTERM");
      await new Promise((resolve) => setTimeout(resolve, 200));
      const during = await fetch(`${tight.url}/health`);
      expect(during.status).toBe(503);
      expect(((await during.json()) as { error: { code: string } }).error.code).toBe("SHUTTING_DOWN");
      const held = await first;
      expect(held.status).toBe(200);
      expect(held.json.embedding.length).toBe(512);
      const [code] = await once(tight.child, "exit") as [number | null];
      expect(code).toBe(0);
    } finally {
      await stopService(tight);
    }
  });

  it("serves 64 concurrent connections on loopback with no errors (autocannon, 10 s)", async () => {
    const result = await autocannon({
      url: `${service.url}/embed`,
      method: "POST",
      headers: { "content-type": hasLfw ? "image/jpeg" : "image/png" },
      body: face.bytes,
      connections: 64,
      duration: 10,
      timeout: 30,
    });
    console.log(`server load: ${result.requests.average.toFixed(1)} req/s, p50 ${result.latency.p50} ms, ` +
                `p99 ${result.latency.p99} ms, ${result["2xx"]} 2xx, ${result.non2xx} non-2xx, ` +
                `${result.errors} errors, ${result.timeouts} timeouts`);
    expect(result["2xx"]).toBeGreaterThan(0);
    expect(result.non2xx).toBe(0);
    expect(result.errors).toBe(0);
    expect(result.timeouts).toBe(0);
  });
});
