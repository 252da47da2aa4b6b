#!/usr/bin/env node
// Load on examples/server over loopback: the service in a child process
// (127.0.0.1, ephemeral port, CPU backend), autocannon with 64 connections
// for a fixed time, POST /embed of one LFW JPEG (250x250) as the raw body;
// once with flip on (the library default) and once with flip off.
//
//   node bench/serving/server-load.mjs [--connections 64] [--seconds 10]
//        [--image <jpeg>] [--json bench/results/serving-server.json] [--md bench/results/serving-server.md]
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

import { parseFlags, provenance, root, writeResult } from "./common.mjs";

const autocannon = createRequire(import.meta.url)("autocannon");
const flags = parseFlags({
  connections: 64,
  seconds: 10,
  image: "/work/shared/data/lfw/lfw-deepfunneled/Aaron_Peirsol/Aaron_Peirsol_0001.jpg",
  json: "",
  md: "",
});
const body = readFileSync(flags.image);

async function startService(env) {
  const child = spawn(process.execPath, [join(root, "examples", "server", "server.mjs")], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", MFN_BACKEND: "cpu", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  const url = await new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) resolve(match[1]);
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
  return { child, url };
}

async function measure(flip) {
  const { child, url } = await startService({ MFN_FLIP: flip ? "1" : "0" });
  try {
    const options = { url: `${url}/embed`, method: "POST", headers: { "content-type": "image/jpeg" }, body,
                      connections: flags.connections, timeout: 30 };
    await autocannon({ ...options, duration: 2 });  // warm-up
    const r = await autocannon({ ...options, duration: flags.seconds });
    return { flip, requestsPerSecond: r.requests.average, latencyMs: { p50: r.latency.p50, p90: r.latency.p90,
             p99: r.latency.p99, max: r.latency.max }, ok2xx: r["2xx"], non2xx: r.non2xx, errors: r.errors,
             timeouts: r.timeouts };
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
  }
}

const runs = [await measure(true), await measure(false)];
for (const r of runs) {
  console.log(`flip ${r.flip ? "on " : "off"}: ${r.requestsPerSecond.toFixed(1)} req/s, p50 ${r.latencyMs.p50} ms, ` +
              `p99 ${r.latencyMs.p99} ms, ${r.ok2xx} 2xx, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
}
const record = { tool: "bench/serving/server-load.mjs", ...provenance(),
                 settings: { connections: flags.connections, seconds: flags.seconds, warmupSeconds: 2,
                             image: flags.image.replace(/^.*lfw-deepfunneled\//, "LFW "), imageBytes: body.length,
                             backend: "cpu", endpoint: "POST /embed (image/jpeg body)" },
                 runs };
if (flags.json) console.log(`wrote ${writeResult(flags.json, record)}`);
if (flags.md) {
  const m = record.machine;
  const lines = [
    "# examples/server under load (loopback)",
    "",
    `${m.cpu.model}, ${m.cpu.cores} cores; Node ${record.versions.node}; commit ${record.commit.commit?.slice(0, 10)}` +
      `${record.commit.dirty ? " (dirty)" : ""}; ${record.date}.`,
    `autocannon, ${flags.connections} connections, ${flags.seconds} s after a 2 s warm-up, POST /embed of ` +
      `${record.settings.image} (${body.length} bytes, 250x250 JPEG), CPU backend, batching defaults. ` +
      `Command: \`${record.command}\`. Server and load generator share the machine's 2 cores.`,
    "",
    "| flip | requests/s | p50 ms | p90 ms | p99 ms | max ms | 2xx | non-2xx | errors | timeouts |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...runs.map((r) => `| ${r.flip ? "on" : "off"} | ${r.requestsPerSecond.toFixed(1)} | ${r.latencyMs.p50} | ` +
      `${r.latencyMs.p90} | ${r.latencyMs.p99} | ${r.latencyMs.max} | ${r.ok2xx} | ${r.non2xx} | ${r.errors} | ${r.timeouts} |`),
    "",
  ];
  writeFileSync(join(root, flags.md), `${lines.join("\n")}\n`);
  console.log(`wrote ${flags.md}`);
}
