#!/usr/bin/env python3
"""PyTorch peer for the CUDA benchmark: MobileFaceNet rebuilt from the same
ONNX weights (parsed with the `onnx` package into nn.Conv2d / nn.PReLU /
residual adds), FP16, channels_last, run eager and under torch.compile with
CUDA graphs, at the same batch sizes as mfn_check, flip doubling the batch.

Each timed call does what one mfn embed call does: copy a batch of uint8
HWC crops (pinned) to the GPU, normalise to FP16, append the mirrored
images when flipping, run the network, sum each image with its mirror,
L2-normalise, and copy the FP32 embeddings back. The crops are resized to
the model size once, untimed (mfn resizes on the GPU inside its timing).

Correctness: before timing, the FP16 network is compared with the same
network in FP32 on the CPU (the onnx-derived modules) and, when
onnxruntime is installed, with onnxruntime itself; the minimum cosines go
into the JSON.

usage: torch_peer.py --model models/mobilefacenet.onnx [--crops FILE]
         [--bench 1,2,4,...] [--flip on|off|both] [--iterations N]
         [--variants eager,compiled] [--compile-mode reduce-overhead]
         [--time-budget SECONDS] [--json OUT] [--device cpu|cuda]
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


class OnnxNet(nn.Module):
    """The ONNX graph as torch modules, executed node by node. Supports the
    ops the mfn engine supports for this family of models."""

    def __init__(self, model):
        super().__init__()
        graph = model.graph
        consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.layers = nn.ModuleDict()
        self.steps = []  # (op, module key or None, inputs, output, extra)
        self.input_name = [i.name for i in graph.input if i.name not in consts][0]
        self.output_name = graph.output[0].name
        for index, node in enumerate(graph.node):
            op = node.op_type
            key = f"n{index}"
            out = node.output[0]
            if op == "Constant":
                consts[out] = numpy_helper.to_array(attr(node, "value"))
            elif op == "Conv":
                w = consts[node.input[1]]
                b = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[0], np.float32)
                group = attr(node, "group", 1)
                k = list(attr(node, "kernel_shape", w.shape[2:]))
                stride = list(attr(node, "strides", [1, 1]))
                dilation = list(attr(node, "dilations", [1, 1]))
                pads = list(attr(node, "pads", [0, 0, 0, 0]))  # top, left, bottom, right
                if attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                    raise ValueError(f"Conv {node.name}: auto_pad is not supported")
                conv = nn.Conv2d(w.shape[1] * group, w.shape[0], k, stride=stride, dilation=dilation, groups=group,
                                 padding=(pads[0], pads[1]) if pads[0] == pads[2] and pads[1] == pads[3] else 0,
                                 bias=True)
                conv.weight.data = torch.from_numpy(w.copy())
                conv.bias.data = torch.from_numpy(b.copy())
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    conv = nn.Sequential(nn.ZeroPad2d((pads[1], pads[3], pads[0], pads[2])), conv)
                self.layers[key] = conv
                self.steps.append(("module", key, [node.input[0]], out))
            elif op == "PRelu":
                slope = consts[node.input[1]].reshape(-1)
                m = nn.PReLU(num_parameters=slope.size)
                m.weight.data = torch.from_numpy(slope.copy())
                self.layers[key] = m
                self.steps.append(("module", key, [node.input[0]], out))
            elif op == "Relu":
                self.layers[key] = nn.ReLU()
                self.steps.append(("module", key, [node.input[0]], out))
            elif op == "BatchNormalization":
                scale, bias, mean, var = (consts[node.input[i]] for i in range(1, 5))
                m = nn.BatchNorm2d(scale.size, eps=attr(node, "epsilon", 1e-5))
                m.weight.data, m.bias.data = torch.from_numpy(scale.copy()), torch.from_numpy(bias.copy())
                m.running_mean.data, m.running_var.data = torch.from_numpy(mean.copy()), torch.from_numpy(var.copy())
                self.layers[key] = m
                self.steps.append(("module", key, [node.input[0]], out))
            elif op == "Add":
                if node.input[1] in consts or node.input[0] in consts:
                    raise ValueError(f"Add {node.name}: adding a constant is not supported")
                self.steps.append(("add", None, list(node.input), out))
            elif op in ("Reshape", "Flatten"):
                self.steps.append(("flatten", None, [node.input[0]], out))
            elif op in ("Gemm", "MatMul"):
                w = consts[node.input[1]]
                if op == "Gemm" and attr(node, "transB", 0) == 0:
                    w = w.T
                elif op == "MatMul":
                    w = w.T
                lin = nn.Linear(w.shape[1], w.shape[0], bias=True)
                lin.weight.data = torch.from_numpy(np.ascontiguousarray(w))
                has_bias = op == "Gemm" and len(node.input) > 2 and node.input[2]
                lin.bias.data = torch.from_numpy(consts[node.input[2]].copy() if has_bias else np.zeros(w.shape[0], np.float32))
                self.layers[key] = lin
                self.steps.append(("linear", key, [node.input[0]], out))
            elif op == "GlobalAveragePool":
                self.steps.append(("gap", None, [node.input[0]], out))
            elif op in ("Identity", "Dropout"):
                self.steps.append(("identity", None, [node.input[0]], out))
            else:
                raise ValueError(f"unsupported ONNX op {op} (node {node.name})")

    def forward(self, x):
        env = {self.input_name: x}
        for op, key, inputs, out in self.steps:
            if op == "module":
                env[out] = self.layers[key](env[inputs[0]])
            elif op == "add":
                env[out] = env[inputs[0]] + env[inputs[1]]
            elif op == "flatten":
                env[out] = env[inputs[0]].reshape(env[inputs[0]].shape[0], -1)
            elif op == "linear":
                env[out] = self.layers[key](env[inputs[0]].reshape(env[inputs[0]].shape[0], -1))
            elif op == "gap":
                env[out] = env[inputs[0]].mean(dim=(2, 3), keepdim=True)
            else:
                env[out] = env[inputs[0]]
        return env[self.output_name].reshape(x.shape[0], -1)


def load_manifest(model_path):
    path = os.path.join(os.path.dirname(model_path), "manifest.json")
    with open(path) as f:
        return json.load(f)


def load_crops(path, size):
    """MFNCROP1 file -> uint8 [N, size, size, 3] in the file's order (BGR),
    resized to the model size with bilinear (pixel centres aligned)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"MFNCROP1":
        raise ValueError(f"{path} is not a crops file")
    count, w, h, c = struct.unpack_from("<4I", data, 8)
    offset = 24
    crops = []
    for _ in range(count):
        (name_len,) = struct.unpack_from("<I", data, offset)
        offset += 4 + name_len + 40
        px = np.frombuffer(data, np.uint8, w * h * c, offset).reshape(h, w, c)[:, :, :3]
        offset += w * h * c
        crops.append(px)
    arr = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()
    arr = F.interpolate(arr, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return arr.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


class Pipeline(nn.Module):
    """uint8 NHWC (file channel order) on the device -> L2-normalised embeddings."""

    def __init__(self, net, manifest, flip, dtype, file_order="BGR"):
        super().__init__()
        self.net = net
        self.dtype = dtype
        self.flip = flip
        order = manifest.get("channelOrder", "BGR")
        self.swap = order != file_order
        self.mean = float(manifest.get("mean", 127.5))
        self.inv_std = 1.0 / float(manifest.get("std", 127.5))

    def forward(self, x):
        x = x.permute(0, 3, 1, 2)
        if self.swap:
            x = x.flip(1)
        x = ((x.to(self.dtype) - self.mean) * self.inv_std).contiguous(memory_format=torch.channels_last)
        n = x.shape[0]
        if self.flip:
            x = torch.cat([x, x.flip(3)], 0).contiguous(memory_format=torch.channels_last)
        e = self.net(x).float()
        if self.flip:
            e = e[:n] + e[n:]
        return F.normalize(e, dim=1)


def cosine_min(a, b):
    a = F.normalize(a.float(), dim=1)
    b = F.normalize(b.float(), dim=1)
    return float((a * b).sum(1).min())


def percentile(values, p):
    return float(np.percentile(np.asarray(values), p))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--crops", help="MFNCROP1 file; random pixels without it")
    ap.add_argument("--bench", default="1,2,4,8,16,32,64,128,256,512,1024")
    ap.add_argument("--flip", default="both", choices=["on", "off", "both"])
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--variants", default="eager,compiled")
    ap.add_argument("--compile-mode", default="reduce-overhead",
                    help="torch.compile mode; reduce-overhead and max-autotune both use CUDA graphs")
    ap.add_argument("--time-budget", type=float, default=240.0, help="seconds; later configurations are skipped")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json")
    args = ap.parse_args()

    started = time.time()
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    if on_gpu and not torch.cuda.is_available():
        print("torch_peer: CUDA is not available to PyTorch", file=sys.stderr)
        return 1
    torch.backends.cudnn.benchmark = True
    manifest = load_manifest(args.model)
    size = int(manifest.get("width", 112))
    model = onnx.load(args.model)
    net32 = OnnxNet(model).eval()
    dtype = torch.float16 if on_gpu else torch.float32
    net = OnnxNet(model).eval().to(device=device, dtype=dtype).to(memory_format=torch.channels_last)

    if args.crops:
        crops = load_crops(args.crops, size)
    else:
        crops = torch.randint(0, 256, (256, size, size, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    result = {
        "tool": "torch_peer",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if on_gpu else None,
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "dtype": str(dtype).replace("torch.", ""),
        "memory_format": "channels_last",
        "compile_mode": args.compile_mode,
        "model": args.model,
        "crops": args.crops or "random",
        "iterations": args.iterations,
        "warmup": args.warmup,
        "results": [],
        "skipped": [],
        "errors": [],
    }

    # Correctness of the rebuilt network: FP16 on the device vs FP32 on the CPU
    # (and vs onnxruntime when it is installed), on 8 crops with flip off.
    with torch.inference_mode():
        sample = crops[:8]
        ref_pipe = Pipeline(net32, manifest, False, torch.float32)
        ref = ref_pipe(sample)
        got = Pipeline(net, manifest, False, dtype)(sample.to(device)).cpu()
        result["check_cosine_min_vs_fp32"] = cosine_min(ref, got)
        try:
            import onnxruntime as ort
            sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
            x = sample.permute(0, 3, 1, 2).float()
            if manifest.get("channelOrder", "BGR") != "BGR":
                x = x.flip(1)
            x = ((x - float(manifest.get("mean", 127.5))) / float(manifest.get("std", 127.5))).numpy()
            ort_out = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x})[0])
            result["check_cosine_min_vs_onnxruntime"] = cosine_min(ort_out, got)
            result["check_cosine_min_fp32_vs_onnxruntime"] = cosine_min(ort_out, ref)
        except ImportError:
            result["check_cosine_min_vs_onnxruntime"] = None
    print(f"torch_peer: {result['device']}, torch {torch.__version__}; min cosine FP16 vs FP32 "
          f"{result['check_cosine_min_vs_fp32']:.6f}, vs onnxruntime {result.get('check_cosine_min_vs_onnxruntime')}",
          flush=True)

    batches = [int(b) for b in args.bench.split(",") if b]
    flips = {"on": [True], "off": [False], "both": [True, False]}[args.flip]
    variants = [v for v in args.variants.split(",") if v]
    if on_gpu:
        torch._dynamo.config.cache_size_limit = 256

    def save():
        # After every figure, so that a later crash or timeout loses nothing.
        result["seconds"] = time.time() - started
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)

    save()
    print(f"{'variant':9} {'flip':4} {'batch':>6} {'emb/s':>12} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9}", flush=True)
    for variant in variants:
        if variant not in ("eager", "compiled"):
            raise SystemExit(f"unknown variant {variant}")
        for flip in flips:
            pipe = Pipeline(net, manifest, flip, dtype).eval()
            # dynamic=True: one compilation for every batch size; the CUDA
            # graphs of reduce-overhead are still recorded per size.
            try:
                run = torch.compile(pipe, mode=args.compile_mode, dynamic=True) if variant == "compiled" else pipe
            except Exception as e:  # e.g. a PyTorch without torch.compile
                result["errors"].append({"variant": variant, "flip": flip, "error": repr(e)[:2000]})
                print(f"torch_peer: {variant} unavailable: {e!r}"[:500], file=sys.stderr, flush=True)
                save()
                continue
            for batch in batches:
                if time.time() - started > args.time_budget:
                    result["skipped"].append({"variant": variant, "flip": flip, "batch": batch, "why": "time budget"})
                    continue
                try:
                    row = time_batch(run, crops, batch, flip, device, on_gpu, args)
                except Exception as e:  # a failed compile must not lose the other figures
                    result["errors"].append({"variant": variant, "flip": flip, "batch": batch, "error": repr(e)[:2000]})
                    print(f"torch_peer: {variant} flip={flip} batch={batch} failed: {e!r}"[:500], file=sys.stderr, flush=True)
                    save()
                    break
                row = {"variant": variant, "flip": flip, **row}
                result["results"].append(row)
                print(f"{variant:9} {'on' if flip else 'off':4} {batch:6d} {row['embeddings_per_s']:12.1f} "
                      f"{row['latency_ms']['p50']:9.3f} {row['latency_ms']['p90']:9.3f} {row['latency_ms']['p99']:9.3f}"
                      f"  (warm-up {row['warmup_s']:.1f} s)", flush=True)
                save()
    save()
    if result["skipped"]:
        print(f"torch_peer: {len(result['skipped'])} configurations skipped for the time budget", flush=True)
    return 1 if result["errors"] else 0


def time_batch(run, crops, batch, flip, device, on_gpu, args):
    idx = torch.arange(batch) % crops.shape[0]
    host = crops[idx].contiguous()
    if on_gpu:
        host = host.pin_memory()
    warm_started = time.time()
    with torch.inference_mode():
        for _ in range(args.warmup):
            out = run(host.to(device, non_blocking=True)).to("cpu")
        warm_s = time.time() - warm_started
        latencies = []
        t0 = time.perf_counter()
        for _ in range(args.iterations):
            c0 = time.perf_counter()
            out = run(host.to(device, non_blocking=True)).to("cpu")  # .to("cpu") synchronises
            latencies.append((time.perf_counter() - c0) * 1000.0)
        total = time.perf_counter() - t0
    if out.shape[0] != batch or not torch.isfinite(out).all():
        raise RuntimeError(f"bad output {tuple(out.shape)} for batch {batch}")
    return {"batch": batch, "embeddings_per_s": batch * args.iterations / total,
            "latency_ms": {"mean": float(np.mean(latencies)), "p50": percentile(latencies, 50),
                           "p90": percentile(latencies, 90), "p99": percentile(latencies, 99)},
            "warmup_s": warm_s}


if __name__ == "__main__":
    sys.exit(main())
