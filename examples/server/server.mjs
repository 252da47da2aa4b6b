#!/usr/bin/env node
// A small face-embedding HTTP service on node:http: POST /embed, POST /verify,
// POST /faces (detect + embed every face of a photo), GET /health. One embedder serves every request; concurrent requests are
// coalesced into batches by the embedder's queue, and a full queue answers
// 429 at once instead of letting requests pile up. See README.md beside this
// file for the request formats, the limits and the configuration.
//
//   node examples/server/server.mjs            (PORT=8080 HOST=127.0.0.1 by default)
import http from "node:http";
import { fileURLToPath } from "node:url";

import sharp from "sharp";

import { MfnError, createEmbedder } from "mfn";

import { createFrontEmbedder, frontConfig } from "./front.mjs";

const ACCEPTED_FORMATS = new Set(["jpeg", "png", "webp"]);
const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/webp"]);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

// MfnError codes that mean "the request was wrong".
const BAD_INPUT = new Set(["MFN_INVALID_ARGUMENT", "MFN_EMPTY_INPUT", "MFN_DECODE_FAILED", "MFN_INVALID_DIMENSIONS",
                           "MFN_INVALID_CHANNELS", "MFN_INVALID_LANDMARKS"]);

/** An error with the HTTP status and the code the client sees. */
class HttpError extends Error {
  constructor(status, code, message, headers = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

function toHttpError(error) {
  if (error instanceof HttpError) return error;
  if (error instanceof MfnError) {
    if (BAD_INPUT.has(error.code)) return new HttpError(400, error.code, error.message);
    if (error.code === "MFN_QUEUE_FULL") {
      return new HttpError(429, error.code, "Too many images waiting; retry shortly", { "retry-after": "1" });
    }
    if (error.code === "MFN_DISPOSED") return new HttpError(503, error.code, "The service is shutting down");
  }
  return new HttpError(500, error instanceof MfnError ? error.code : "INTERNAL", "Internal error");
}

/** Settings from the environment, with the defaults documented in README.md. */
export function configFromEnv(env = process.env) {
  const int = (name, fallback) => {
    if (env[name] === undefined || env[name] === "") return fallback;
    const value = Number(env[name]);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer`);
    return value;
  };
  return {
    port: int("PORT", 8080),
    host: env.HOST ?? "127.0.0.1",
    backend: env.MFN_BACKEND ?? "auto",
    flip: env.MFN_FLIP !== "0",
    maxBatch: int("MFN_MAX_BATCH", 256),
    maxDelayUs: env.MFN_MAX_DELAY_US ? int("MFN_MAX_DELAY_US") : undefined,
    maxQueue: env.MFN_MAX_QUEUE ? int("MFN_MAX_QUEUE") : undefined,
    maxBodyBytes: int("MAX_BODY_BYTES", 8 * 2 ** 20),
    maxImageSide: int("MAX_IMAGE_SIDE", 4096),
    maxImagePixels: int("MAX_IMAGE_PIXELS", 16 * 2 ** 20),
    maxRequestPixels: int("MAX_REQUEST_PIXELS", 32 * 2 ** 20),
    maxPixelsInFlight: int("MAX_PIXELS_IN_FLIGHT", 128 * 2 ** 20),
    maxBatchItems: int("MAX_BATCH_ITEMS", 64),
    drainTimeoutMs: int("DRAIN_TIMEOUT_MS", 10_000),
    front: frontConfig(env),
  };
}

/** Reads the whole body, refusing more than `limit` bytes with 413. */
function readBody(req, limit) {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new HttpError(413, "BODY_TOO_LARGE", `Request bodies are limited to ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.pause();
        reject(new HttpError(413, "BODY_TOO_LARGE", `Request bodies are limited to ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * After a refused body: reads and drops the rest, so that the client, still
 * sending, gets the 413 instead of a broken pipe; a client that goes on far
 * beyond the limit is cut off.
 */
function discardRest(req, limit) {
  if (req.complete) return;
  let dropped = 0;
  req.removeAllListeners("data");
  req.on("data", (chunk) => {
    dropped += chunk.length;
    if (dropped > 4 * limit) req.socket.destroy();
  });
  req.resume();
}

function mediaType(req) {
  return (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

function parseJson(body) {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new HttpError(400, "INVALID_JSON", "The body is not valid JSON");
  }
}

function decodeBase64(value, name) {
  if (typeof value !== "string") throw new HttpError(400, "MFN_INVALID_ARGUMENT", `Expected a base64 string for ${name}`);
  const text = value.replace(/^data:[^,]*;base64,/, "").replace(/\s+/g, "");
  if (text.length === 0 || text.length % 4 === 1 || !BASE64.test(text)) {
    throw new HttpError(400, "INVALID_BASE64", `${name} is not valid base64`);
  }
  return Buffer.from(text, "base64");
}

/**
 * Checks an encoded image from its header alone (sharp reads the metadata
 * without decoding the pixels): a format we take, sides within limits, and
 * pixels within what is left of the request's budget (`budget.pixels`), so
 * that many in-limit images cannot add up to gigabytes of decoded pixels,
 * and within what the whole server may hold at once (`budget.gate`).
 * sharp's own pixel limit is off for this header read only: an oversized
 * image is ours to refuse with 413, not an unreadable one.
 */
async function checkImage(bytes, name, config, budget) {
  let meta;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new HttpError(400, "MFN_DECODE_FAILED", `${name} is not a readable image`);
  }
  if (!ACCEPTED_FORMATS.has(meta.format)) {
    throw new HttpError(415, "UNSUPPORTED_IMAGE_FORMAT", `${name} is ${meta.format}; send JPEG, PNG or WebP`);
  }
  const { width = 0, height = 0 } = meta;
  if (width > config.maxImageSide || height > config.maxImageSide || width * height > config.maxImagePixels) {
    throw new HttpError(413, "IMAGE_TOO_LARGE",
      `${name} is ${width}x${height}; the limits are ${config.maxImageSide} pixels a side and ${config.maxImagePixels} pixels`);
  }
  budget.pixels -= width * height;
  if (budget.pixels < 0) {
    throw new HttpError(413, "REQUEST_TOO_MANY_PIXELS",
      `the images of one request may hold ${config.maxRequestPixels} pixels in all; ${name} goes beyond that`);
  }
  if (budget.gate.pixels + width * height > config.maxPixelsInFlight) {
    throw new HttpError(429, "SERVER_BUSY", "Too many pixels being decoded; retry shortly", { "retry-after": "1" });
  }
  budget.gate.pixels += width * height;
  budget.held += width * height;
  return bytes;
}

/**
 * An image item of a JSON body: "<base64>" or { image: "<base64>", landmarks?: [[x, y] x 5] }.
 * `name` is where it sits ("a", "images[2]"; "" for the body itself).
 */
async function jsonItem(item, name, config, budget) {
  const imageName = name ? `${name}.image` : "image";
  if (typeof item === "string") {
    return { image: await checkImage(decodeBase64(item, name || "the body"), name || "the body", config, budget) };
  }
  if (typeof item === "object" && item !== null && !Array.isArray(item)) {
    const image = await checkImage(decodeBase64(item.image, imageName), imageName, config, budget);
    return item.landmarks === undefined ? { image } : { image, landmarks: item.landmarks };
  }
  throw new HttpError(400, "MFN_INVALID_ARGUMENT", `Expected a base64 string or { image, landmarks } for ${name || "the body"}`);
}

/** Landmarks from a query string: ?landmarks=x1,y1,...,x5,y5 */
function queryLandmarks(url) {
  const raw = url.searchParams.get("landmarks");
  if (raw === null) return undefined;
  const values = raw.split(",").map(Number);
  if (values.length !== 10 || !values.every(Number.isFinite)) {
    throw new HttpError(400, "MFN_INVALID_LANDMARKS", "landmarks must be 10 numbers: x1,y1,...,x5,y5");
  }
  return [0, 2, 4, 6, 8].map((i) => [values[i], values[i + 1]]);
}

async function embedRoute(req, url, body, embedder, config, signal, budget) {
  const type = mediaType(req);
  if (IMAGE_TYPES.has(type)) {
    const image = await checkImage(body, "the body", config, budget);
    const landmarks = queryLandmarks(url);
    const embedding = await embedder.embed(image, { signal, ...(landmarks ? { landmarks } : {}) });
    return { embedding: Array.from(embedding), dimensions: embedding.length, backend: embedder.backend };
  }
  if (type !== "application/json") throw unsupportedMedia(type);
  const json = parseJson(body);
  if (Array.isArray(json?.images)) {
    if (json.images.length === 0 || json.images.length > config.maxBatchItems) {
      throw new HttpError(400, "MFN_INVALID_ARGUMENT", `images must hold 1 to ${config.maxBatchItems} items`);
    }
    // One header at a time: the budget is spent in item order.
    const items = [];
    for (const [i, item] of json.images.entries()) items.push(await jsonItem(item, `images[${i}]`, config, budget));
    const embeddings = await embedder.embedBatch(items, { signal });
    return { embeddings: embeddings.map((e) => Array.from(e)), dimensions: embedder.dimensions, backend: embedder.backend };
  }
  const { image, landmarks } = await jsonItem(json ?? null, "", config, budget);
  const embedding = await embedder.embed(image, { signal, ...(landmarks ? { landmarks } : {}) });
  return { embedding: Array.from(embedding), dimensions: embedding.length, backend: embedder.backend };
}

async function verifyRoute(req, body, embedder, config, signal, budget) {
  const type = mediaType(req);
  if (type !== "application/json") throw unsupportedMedia(type);
  const json = parseJson(body);
  if (typeof json !== "object" || json === null || json.a === undefined || json.b === undefined) {
    throw new HttpError(400, "MFN_INVALID_ARGUMENT", "Expected { a, b } with two images");
  }
  const a = await jsonItem(json.a, "a", config, budget);
  const b = await jsonItem(json.b, "b", config, budget);
  // Landmarks are per image, so the pair goes through embedBatch and then verify on the embeddings.
  const [ea, eb] = await embedder.embedBatch([a, b], { signal });
  const threshold = json.threshold;
  return embedder.verify(ea, eb, threshold === undefined ? {} : { threshold });
}

/**
 * POST /faces: the faces in a photo, each with its embedding unless
 * embeddings=0. Body: the image itself (query ?maxFaces=&minScore=&embeddings=0)
 * or JSON { image: "<base64>", maxFaces?, minScore?, embeddings?: false }.
 */
async function facesRoute(req, url, body, embedder, config, signal, budget) {
  const type = mediaType(req);
  let image, options;
  if (IMAGE_TYPES.has(type)) {
    image = await checkImage(body, "the body", config, budget);
    const q = url.searchParams;
    const number = (name) => (q.get(name) === null ? undefined : Number(q.get(name)));
    options = { maxFaces: number("maxFaces"), minScore: number("minScore"), embeddings: q.get("embeddings") !== "0" };
  } else if (type === "application/json") {
    const json = parseJson(body);
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new HttpError(400, "MFN_INVALID_ARGUMENT", "Expected { image, maxFaces?, minScore?, embeddings? }");
    }
    image = await checkImage(decodeBase64(json.image, "image"), "image", config, budget);
    options = { maxFaces: json.maxFaces, minScore: json.minScore, embeddings: json.embeddings !== false };
  } else {
    throw unsupportedMedia(type);
  }
  const detect = { signal, ...(options.maxFaces === undefined ? {} : { maxFaces: options.maxFaces }),
                   ...(options.minScore === undefined ? {} : { minScore: options.minScore }) };
  const faces = options.embeddings ? await embedder.embedFaces(image, detect) : await embedder.detect(image, detect);
  return {
    faces: faces.map((f) => ({ box: f.box, score: f.score, landmarks: f.landmarks,
                               ...(f.embedding ? { embedding: Array.from(f.embedding) } : {}) })),
    dimensions: embedder.dimensions,
    backend: embedder.backend,
  };
}

function unsupportedMedia(type) {
  return new HttpError(415, "UNSUPPORTED_MEDIA_TYPE",
    `Content-Type ${type || "(none)"} is not accepted; send image/jpeg, image/png, image/webp or application/json`);
}

function send(res, status, payload, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(payload);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Starts the service; resolves with { server, url, embedder, close() } once it
 * listens. close() stops taking requests (503), lets those in flight finish
 * for at most config.drainTimeoutMs (a stalled upload would otherwise hold
 * the exit until the request timeout), cuts the connections still open, then
 * closes the listener and disposes of the embedder.
 */
export async function startServer(config = configFromEnv()) {
  // Front mode (front.mjs): workers on a queue embed; otherwise this process does.
  const embedder = config.front ? await createFrontEmbedder(config.front) : await createEmbedder({
    backend: config.backend,
    flip: config.flip,
    maxBatch: config.maxBatch,
    ...(config.maxDelayUs === undefined ? {} : { maxDelayUs: config.maxDelayUs }),
    ...(config.maxQueue === undefined ? {} : { maxQueue: config.maxQueue }),
  });
  let shuttingDown = false;
  let inFlight = 0;
  // Declared pixels of the images admitted and not yet answered, all requests together.
  const gate = { pixels: 0 };
  let drained = () => {};

  const server = http.createServer(async (req, res) => {
    if (shuttingDown) {
      req.resume();
      send(res, 503, { error: { code: "SHUTTING_DOWN", message: "The service is shutting down" } }, { connection: "close" });
      return;
    }
    inFlight++;
    // A client that hangs up cancels its work if the queue has not started it.
    const controller = new AbortController();
    // What this request may still decode, and what it holds of the gate.
    const budget = { pixels: config.maxRequestPixels, held: 0, gate };
    res.on("close", () => {
      if (!res.writableFinished) controller.abort();
    });
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      const route = `${req.method} ${url.pathname}`;
      if (route === "GET /health") {
        send(res, 200, { status: "ok", backend: embedder.backend, fallbackReason: embedder.fallbackReason });
      } else if (route === "POST /faces") {
        const body = await readBody(req, config.maxBodyBytes);
        send(res, 200, await facesRoute(req, url, body, embedder, config, controller.signal, budget));
      } else if (route === "POST /embed" || route === "POST /verify") {
        const body = await readBody(req, config.maxBodyBytes);
        const result = route === "POST /embed"
          ? await embedRoute(req, url, body, embedder, config, controller.signal, budget)
          : await verifyRoute(req, body, embedder, config, controller.signal, budget);
        send(res, 200, result);
      } else if (["/health", "/embed", "/verify", "/faces"].includes(url.pathname)) {
        throw new HttpError(405, "METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${url.pathname}`,
                            { allow: url.pathname === "/health" ? "GET" : "POST" });
      } else {
        throw new HttpError(404, "NOT_FOUND", `No route ${url.pathname}`);
      }
    } catch (error) {
      if (!controller.signal.aborted) {
        const failure = toHttpError(error);
        if (failure.status === 500) console.error(error);
        if (failure.status === 413) discardRest(req, config.maxBodyBytes);
        send(res, failure.status, { error: { code: failure.code, message: failure.message } }, failure.headers);
      }
    } finally {
      gate.pixels -= budget.held;
      if (--inFlight === 0 && shuttingDown) drained();
    }
  });
  server.requestTimeout = 60_000;

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, resolve);
  });
  const { address, port } = server.address();
  const url = `http://${address.includes(":") ? `[${address}]` : address}:${port}`;

  let closing;
  const close = () => {
    closing ??= (async () => {
      shuttingDown = true;
      // dispose() does not drain (calls still queued would reject with
      // MFN_DISPOSED), so wait for the requests in flight here first, up to
      // the deadline.
      let timer;
      const deadline = new Promise((resolve) => { timer = setTimeout(resolve, config.drainTimeoutMs, "deadline"); });
      const finished = inFlight === 0 ? "drained" : await Promise.race([
        new Promise((resolve) => { drained = () => resolve("drained"); }), deadline]);
      clearTimeout(timer);
      if (finished === "deadline") {
        console.error(`drain deadline (${config.drainTimeoutMs} ms): cutting ${inFlight} request(s) still in flight`);
      }
      const listenerClosed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await listenerClosed;
      await embedder.dispose();
    })();
    return closing;
  };
  return { server, url, embedder, close };
}

// Run directly: listen, print the address, shut down cleanly on SIGTERM/SIGINT.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const service = await startServer();
  console.log(`mfn server listening on ${service.url} (backend ${service.embedder.backend}` +
              `${service.embedder.fallbackReason ? `: ${service.embedder.fallbackReason}` : ""})`);
  const stop = (signal) => {
    console.log(`${signal}: finishing requests in flight, then exiting`);
    service.close().then(() => process.exit(0), (error) => {
      console.error(error);
      process.exit(1);
    });
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
