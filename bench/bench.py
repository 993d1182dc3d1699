#!/usr/bin/python3
"""bench.py — kiln against ONNX Runtime on the models of issue 9, one table.

For each model (exported once with seeded weights and cached) and each
thread count, the benchmark:

1. compiles the model with `kiln compile` and links bench/kiln_bench.c
   against libNAME.a with `cc`, as a user would (the compile time is
   reported too);
2. starts that program and an ONNX Runtime session (bench/ort_bench.js,
   onnxruntime-node, intraOpNumThreads = threads, interOpNumThreads = 1)
   on the same seeded input; both run once and write their outputs, whose
   max |kiln - ORT| / max |ORT| is the "max rel err" column (a fast wrong
   result is flagged and makes the exit status 1);
3. warms both up, then times them in alternating blocks (ORT then kiln,
   kiln then ORT, ...) so that drift in the machine's load hits both; each
   block starts after a 50 ms pause (ORT's threads spin on for milliseconds
   after its runs and would take a core from the next block) and with one
   untimed run that re-warms the caches the other process just evicted.
   The medians of all timed runs are compared.

The fp32 peak comes from bench/peak_flops.c (independent FMA chains in
registers at the host's widest vector width), measured at the start and at
the end of the same run for each thread count; the higher figure is the
peak.  FLOPs are counted from the ONNX graph (after ONNX shape inference):
2*M*N*K per MatMul/Gemm (times the batch), 2*Cout*Hout*Wout*(Cin/groups)*kh*kw
per Conv (times N); elementwise work is not counted.

The int8 model (resnet50_int8, docs/quantization.md) is a second table:
ResNet-50 compiled by kiln with `--quantize int8` (a minmax profile from 4
synthetic N(0, 1) samples), the same model compiled by kiln in fp32, and
ONNX Runtime on the QDQ form of the model built with the onnx package from
the same profile (make_qdq), timed in rotating order; the error column is
each int8 output's max rel err against kiln fp32 (informative: int8 is
not fp32).

Usage: bench.py [--build DIR] [--work DIR] [--models LIST] [--runs N]
                [--threads LIST] [--warmup N] [--rounds N] [--quick]
                [--kiln-flags STR] [--json FILE]
       bench.py --w4 [--threads LIST] [--runs N]   (decode step: kiln fp32 vs w4a16)
       bench.py --hadamard [--runs N]              (kiln.Hadamard vs Neg, memory speed)
       bench.py --selftest
bench/run.sh installs ONNX Runtime first and is the usual way in.
"""
import argparse
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(SRC, "bench")

# name -> (display name, kind, parameters).  GPT parameters follow
# tests/models/export.py's GPT class: vocab, width d, heads, layers, tokens.
MODELS = {
    "resnet18": ("ResNet-18", "torchvision", {}),
    "mobilenet_v2": ("MobileNetV2", "torchvision", {}),
    "resnet50": ("ResNet-50", "torchvision", {}),
    "gpt_d256": ("GPT d256 L4 T64", "gpt", dict(vocab=256, d=256, heads=4, layers=4, seq=64)),
    "gpt_d768": ("GPT d768 L12 T128", "gpt",
                 dict(vocab=256, d=768, heads=12, layers=12, seq=128)),
    "matmul_1024": ("MatMul 1024x1024x1024", "matmul", dict(m=1024, k=1024, n=1024)),
    "matmul_128x768x3072": ("MatMul 128x768x3072", "matmul", dict(m=128, k=768, n=3072)),
    # int8 (docs/quantization.md): kiln --quantize int8 vs kiln fp32 vs ONNX
    # Runtime on the QDQ form of the same model built from kiln's ranges
    "resnet50_int8": ("ResNet-50 int8", "int8", dict(base="resnet50", samples=4)),
}

# Decode-shaped models (one token, batch 1) for --w4: kiln fp32 against
# kiln --quantize w4a16 in one run (no ONNX Runtime side).
DECODE_MODELS = {
    "gpt_d768_t1": ("GPT d768 L12 T1 (decode step)", "gpt",
                    dict(vocab=256, d=768, heads=12, layers=12, seq=1)),
}


def model_spec(name):
    return MODELS[name] if name in MODELS else DECODE_MODELS[name]


# ONNX TensorProto element types the models use: numpy dtype, ORT name.
ELEM = {1: ("float32", "float32"), 7: ("int64", "int64"), 6: ("int32", "int32"),
        11: ("float64", "float64"), 2: ("uint8", "uint8"), 3: ("int8", "int8"),
        9: ("bool", "bool")}

ERR_LIMIT = 1e-4  # the models suite's bound against torch (docs/testing.md)
MIN_RUNS = 5      # timed runs a side, whatever --budget says
REWARM_MS = 200   # runs shorter than this get an untimed run at each block's start
# Pause before each timed block.  ONNX Runtime's pool threads keep spinning
# for milliseconds after a run (its allow_spinning default), so a block
# right after an ORT block ran with a core taken: kiln's GPT d256 at two
# threads measured 3.0-5.0 ms there, 2.56 ms after a 20 ms pause (ORT's own
# time unchanged at 2.3 ms).  Both sides get the same pause.
SETTLE_S = 0.05


# ---------------------------------------------------------------- models

def export_torch(name, path, inputs_path):
    """Exports a torchvision or GPT model with seeded weights and input."""
    import numpy as np
    import torch
    import torch.nn as nn
    sys.path.insert(0, os.path.join(SRC, "tests", "models"))
    import export  # the test models' definitions (GPT, torchvision choices)

    _, kind, p = model_spec(name)
    torch.manual_seed(0)
    if kind == "gpt":
        model = export.GPT(vocab=p["vocab"], d=p["d"], heads=p["heads"], layers=p["layers"],
                           seq=p["seq"])
        x = torch.randint(0, p["vocab"], (1, p["seq"]), dtype=torch.long)
    else:
        model, x = export.make(name)
    model.eval()
    with torch.no_grad():
        # as export.py does: realistic BatchNorm statistics, not 0/1
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    # Static shapes and constant folding: the graph a deployment exports,
    # and every MatMul shape is then known to ONNX shape inference.  (The
    # tracer's warning about the attention scale is expected: T is fixed.)
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    torch.onnx.export(model, (x,), path, opset_version=17, input_names=["input"],
                      output_names=["output"], do_constant_folding=True)
    np.ascontiguousarray(x.numpy()).tofile(inputs_path[0])


def export_matmul(name, path, inputs_path):
    """One MatMul Y = A B with B a seeded constant: the GEMM of a linear layer."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    p = MODELS[name][2]
    rng = np.random.default_rng(0)
    b = rng.standard_normal((p["k"], p["n"]), dtype=np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["Y"], name="matmul")], name,
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [p["m"], p["k"]])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [p["m"], p["n"]])],
        [numpy_helper.from_array(b, "B")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    rng.standard_normal((p["m"], p["k"]), dtype=np.float32).tofile(inputs_path[0])


def build_model(name, models_dir):
    """The cached ONNX file and input files of a model, exporting if needed."""
    path = os.path.join(models_dir, name + ".onnx")
    inputs = [os.path.join(models_dir, name + ".in0.bin")]
    if not (os.path.exists(path) and all(os.path.exists(p) for p in inputs)):
        os.makedirs(models_dir, exist_ok=True)
        tmp = path + ".tmp"
        if model_spec(name)[1] == "matmul":
            export_matmul(name, tmp, inputs)
        else:
            export_torch(name, tmp, inputs)
        os.replace(tmp, path)
    return path, inputs


# ---------------------------------------------------------------- FLOPs

def _static_shape(shapes, name, node):
    s = shapes.get(name)
    if s is None or any(d is None for d in s):
        raise ValueError(f"node '{node.name}' ({node.op_type}): shape of '{name}' unknown")
    return s


def count_flops(model):
    """Multiply-add FLOPs of the MatMul, Gemm and Conv nodes of a model.

    Shapes come from ONNX shape inference with data propagation (so
    Shape -> Reshape chains resolve); a heavy node whose shapes stay unknown
    is an error rather than a guess.  Subgraphs are not visited.
    """
    import onnx
    m = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes = {}
    for vi in list(m.graph.input) + list(m.graph.value_info) + list(m.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None
                               for d in t.shape.dim]
    for init in m.graph.initializer:
        shapes[init.name] = list(init.dims)
    total = 0
    for node in m.graph.node:
        if node.op_type == "MatMul":
            a = _static_shape(shapes, node.input[0], node)
            b = _static_shape(shapes, node.input[1], node)
            # numpy matmul: a 1-D operand is a row (A) or column (B) vector
            if len(a) == 1:
                a = [1] + a
            if len(b) == 1:
                b = b + [1]
            # batch dims broadcast from the right, as numpy does
            rank = max(len(a), len(b)) - 2
            ba = [1] * (rank - len(a) + 2) + a[:-2]
            bb = [1] * (rank - len(b) + 2) + b[:-2]
            batch = math.prod(max(x, y) for x, y in zip(ba, bb))
            total += 2 * batch * a[-2] * a[-1] * b[-1]
        elif node.op_type == "Gemm":
            a = _static_shape(shapes, node.input[0], node)
            b = _static_shape(shapes, node.input[1], node)
            attrs = {at.name: at.i for at in node.attribute}
            mm, k = (a[1], a[0]) if attrs.get("transA", 0) else (a[0], a[1])
            n = b[0] if attrs.get("transB", 0) else b[1]
            total += 2 * mm * n * k
        elif node.op_type == "Conv":
            w = _static_shape(shapes, node.input[1], node)
            y = _static_shape(shapes, node.output[0], node)
            # w = [Cout, Cin/groups, k...], y = [N, Cout, spatial...]
            total += 2 * y[0] * math.prod(y[1:]) * math.prod(w[1:])
    return total


# ---------------------------------------------------------------- running

def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        raise RuntimeError(f"{shlex.join(cmd)}: exit {r.returncode}\n{r.stderr.strip()}")
    return r.stdout


class Worker:
    """A kiln_bench or ort_bench.js process speaking the run-N protocol."""

    def __init__(self, cmd, log, env=None):
        self.cmd, self.log = cmd, log
        # stderr to a file: a pipe nobody reads would block a chatty worker
        with open(log, "w") as err:
            self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=err, text=True, bufsize=1, env=env)
        self._expect_ready()

    def _fail(self, what):
        self.p.kill()
        self.p.wait()
        with open(self.log) as f:
            err = f.read().strip()[-2000:]
        raise RuntimeError(f"{shlex.join(self.cmd)}: {what}\n{err}")

    def _expect_ready(self):
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            self._fail(f"no 'ready' (got {line!r})")

    def times(self, n):
        self.p.stdin.write(f"run {n}\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        try:
            t = [float(x) for x in line.split()]
        except ValueError:
            t = []
        if len(t) != n:
            self._fail(f"expected {n} times, got {line!r}")
        return t

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.close()
                self.p.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def max_rel_err(got, want):
    """max |got - want| / max |want| over all outputs (0 if want is all 0)."""
    import numpy as np
    num = den = 0.0
    for g, w in zip(got, want):
        if g.shape != w.shape:
            return float("inf")
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        if np.isnan(g64).any() != np.isnan(w64).any():
            return float("inf")
        num = max(num, float(np.nanmax(np.abs(g64 - w64))) if g64.size else 0.0)
        den = max(den, float(np.nanmax(np.abs(w64))) if w64.size else 0.0)
    return num / den if den else num


def io_spec(model):
    """[(name, numpy dtype, ORT type, dims)] of the graph inputs and outputs."""
    init = {i.name for i in model.graph.initializer}

    def spec(vi):
        t = vi.type.tensor_type
        np_t, ort_t = ELEM[t.elem_type]
        return vi.name, np_t, ort_t, [d.dim_value for d in t.shape.dim]
    ins = [spec(v) for v in model.graph.input if v.name not in init]
    return ins, [spec(v) for v in model.graph.output]


def compile_kiln(args, name, path, work, flags=None, sub="kiln", extra=()):
    """kiln compile + cc; returns (kiln_bench executable, compile seconds)."""
    out = os.path.join(work, sub)
    os.makedirs(out, exist_ok=True)
    kiln = os.path.join(args.build, "compiler", "driver", "kiln")
    t0 = time.monotonic()
    run([kiln, "compile", path, "-o", out, "--name", name] + list(extra) +
        shlex.split(args.kiln_flags if flags is None else flags))
    seconds = time.monotonic() - t0
    exe = os.path.join(out, "kiln_bench")
    run(["cc", "-O2", f"-DKILN_MODEL={name}_model", "-I" + out,
         os.path.join(BENCH, "kiln_bench.c"), os.path.join(out, f"lib{name}.a"),
         "-lpthread", "-lm", "-o", exe])
    return exe, seconds


def plan_runs(args, warm_ms):
    """(timed runs, blocks) for a model whose slower side takes warm_ms a run.

    --runs, unless that would take longer than --budget seconds a side:
    then as many runs as fit, but never fewer than MIN_RUNS (a median
    needs a few), so a 2-second model does not hold the table up for
    minutes."""
    runs = args.runs
    if warm_ms * runs > args.budget * 1e3:
        runs = min(runs, max(MIN_RUNS, int(args.budget * 1e3 / warm_ms)))
    return runs, min(args.rounds, runs)


def interleave(ort, kiln, runs, rounds, rewarm):
    """Times `runs` runs of each worker in `rounds` alternating blocks.

    Block r runs ORT then kiln when r is even, kiln then ORT when odd, so a
    change in the machine's load shifts both sides alike.  With `rewarm`
    (short runs, whose time a cold cache would distort) each block begins
    with one untimed run that brings back what the other process evicted."""
    t_ort, t_kiln = [], []
    per = [runs // rounds + (r < runs % rounds) for r in range(rounds)]
    for r, n in enumerate(per):
        order = [(ort, t_ort), (kiln, t_kiln)]
        for w, acc in (order if r % 2 == 0 else order[::-1]):
            time.sleep(SETTLE_S)
            if rewarm:
                w.times(1)
            acc += w.times(n)
    return t_ort, t_kiln


def bench_model(args, name):
    """Rows of the table for one model, one per thread count."""
    import numpy as np
    import onnx
    display = MODELS[name][0]
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    t0 = time.monotonic()
    path, in_files = build_model(name, os.path.join(args.work, "models"))
    model = onnx.load(path)
    flops = count_flops(model)
    ins, outs = io_spec(model)
    del model  # the GPT's weights are 300 MB
    t1 = time.monotonic()
    exe, compile_s = compile_kiln(args, name, path, work)
    print(f"  model ready in {t1 - t0:.1f} s, kiln compile {compile_s:.1f} s",
          file=sys.stderr, flush=True)
    info = dict(model=display, name=name, gflop=flops / 1e9, compile_s=compile_s,
                onnx_mb=os.path.getsize(path) / 2**20)
    rows = []
    for threads in args.threads:
        k_out = [os.path.join(work, f"kiln.t{threads}.out{i}.bin") for i in range(len(outs))]
        o_out = [os.path.join(work, f"ort.t{threads}.out{i}.bin") for i in range(len(outs))]
        spec_path = os.path.join(work, f"ort.t{threads}.json")
        with open(spec_path, "w") as f:
            json.dump({"model": path, "outputs": o_out,
                       "inputs": [{"name": n, "type": ot, "dims": dims, "file": fp}
                                  for (n, _, ot, dims), fp in zip(ins, in_files)]}, f)
        env = dict(os.environ, KILN_ORT_DIR=args.ort_dir)
        ort = kiln = None
        try:
            ort = Worker(["node", os.path.join(BENCH, "ort_bench.js"), spec_path, str(threads)],
                         os.path.join(work, f"ort.t{threads}.log"), env=env)
            kiln = Worker([exe, str(threads)] + in_files + k_out,
                          os.path.join(work, f"kiln.t{threads}.log"))
            load = lambda files: [np.fromfile(fp, dtype=dt).reshape(dims)
                                  for fp, (_, dt, _, dims) in zip(files, outs)]
            err = max_rel_err(load(k_out), load(o_out))
            warm = max(median(ort.times(args.warmup)), median(kiln.times(args.warmup)))
            runs, rounds = plan_runs(args, warm)
            t_ort, t_kiln = interleave(ort, kiln, runs, rounds, rewarm=warm < REWARM_MS)
        finally:
            for w in (kiln, ort):
                if w:
                    w.close()
        ort_ms, kiln_ms = median(t_ort), median(t_kiln)
        rows.append(dict(info, threads=threads, ort_ms=ort_ms, kiln_ms=kiln_ms,
                         ratio=kiln_ms / ort_ms, kiln_gflops=flops / kiln_ms / 1e6,
                         err=err, runs=runs, t_ort=t_ort, t_kiln=t_kiln))
        print(f"  {threads} thread(s): ORT {ort_ms:.2f} ms, kiln {kiln_ms:.2f} ms"
              f" ({runs} runs each), err {err:.1e}", file=sys.stderr, flush=True)
    return rows


def cpu_ns(worker):
    """Nanoseconds the worker's threads have run on a CPU (/proc/PID/schedstat
    of each task): unlike wall time, not inflated by waiting for a core
    that other processes hold."""
    total = 0
    for tid in os.listdir(f"/proc/{worker.p.pid}/task"):
        with open(f"/proc/{worker.p.pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def timed_cpu(worker, n):
    """(wall times of n runs, CPU ms per run)."""
    c0 = cpu_ns(worker)
    t = worker.times(n)
    return t, (cpu_ns(worker) - c0) / 1e6 / n


def bench_w4(args):
    """--w4: a decode step of the d768 L12 GPT, kiln fp32 against kiln
    --quantize w4a16 (--group-size 128), each thread count, timed in
    alternating blocks as bench_model does; the outputs' difference is the
    quantization error, printed, not checked."""
    import numpy as np
    rows = []
    for name in DECODE_MODELS:
        work = os.path.join(args.work, name)
        path, in_files = build_model(name, os.path.join(args.work, "models"))
        fp_exe, fp_s = compile_kiln(args, name, path, work, "", "fp32")
        w4_exe, w4_s = compile_kiln(args, name, path, work, "--quantize w4a16", "w4a16")
        print(f"{DECODE_MODELS[name][0]}: compile fp32 {fp_s:.1f} s, w4a16 {w4_s:.1f} s",
              file=sys.stderr, flush=True)
        for threads in args.threads:
            outs = {k: os.path.join(work, f"{k}.t{threads}.out0.bin") for k in ("fp32", "w4a16")}
            fp = w4 = None
            try:
                fp = Worker([fp_exe, str(threads)] + in_files + [outs["fp32"]],
                            os.path.join(work, f"fp32.t{threads}.log"))
                w4 = Worker([w4_exe, str(threads)] + in_files + [outs["w4a16"]],
                            os.path.join(work, f"w4a16.t{threads}.log"))
                a, b = (np.fromfile(outs[k], dtype=np.float32) for k in ("fp32", "w4a16"))
                err = float(np.abs(a - b).max() / np.abs(a).max())
                fp.times(args.warmup)
                w4.times(args.warmup)
                # alternating blocks; each side's CPU time per run, block by block
                t_fp, t_w4, c_fp, c_w4 = [], [], [], []
                for r in range(args.rounds):
                    order = [(fp, t_fp, c_fp), (w4, t_w4, c_w4)]
                    for w, tt, cc in (order if r % 2 == 0 else order[::-1]):
                        w.times(1)
                        t, c = timed_cpu(w, max(1, args.runs // args.rounds))
                        tt += t
                        cc.append(c)
                runs = len(t_fp)
            finally:
                for w in (fp, w4):
                    if w:
                        w.close()
            rows.append((DECODE_MODELS[name][0], threads, median(t_fp), median(t_w4),
                         median(c_fp), median(c_w4), err, runs))
    print(f"{runs} runs a side in {args.rounds} alternating blocks, {git_head()}, {cpu_model()}; "
          "wall: median of the runs; CPU: median over the blocks of CPU time per run "
          "(/proc/PID/task/*/schedstat), robust when other processes hold the cores")
    print("| model | threads | fp32 wall ms | w4a16 wall ms | wall speed-up | fp32 CPU ms | "
          "w4a16 CPU ms | CPU speed-up | max rel diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m, t, a, b, ca, cb, e, n in rows:
        print(f"| {m} | {t} | {a:.2f} | {b:.2f} | {a / b:.2f}x | {ca:.2f} | {cb:.2f} | "
              f"{ca / cb:.2f}x | {e:.1e} |")
    return 0


def bench_hadamard(args):
    """--hadamard: kiln.Hadamard over the last axis of a [4096, n] f32
    tensor against Neg of the same tensor (a pass at memory speed: read
    once, written once), one thread, in alternating blocks.  Both move the
    same bytes, so Neg's bytes per CPU second is the memory bandwidth the
    machine gives this program now, and Hadamard's share of it is the
    figure of the issue's goal (>= 50% at n = 4096)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper
    rows = []
    for n in (256, 4096):
        shape = [4096, n]
        work = os.path.join(args.work, f"hadamard_{n}")
        os.makedirs(work, exist_ok=True)
        inp = os.path.join(work, "x.bin")
        np.random.default_rng(0).standard_normal(shape, dtype=np.float32).tofile(inp)
        exes = {}
        for op, dom in (("Hadamard", "kiln"), ("Neg", "")):
            g = helper.make_graph([helper.make_node(op, ["x"], ["y"], name="op", domain=dom)], op,
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("kiln", 1)])
            path = os.path.join(work, op + ".onnx")
            onnx.save(m, path)
            exes[op], _ = compile_kiln(args, op.lower(), path, work, "", op)
        ws = {}
        try:
            for op, exe in exes.items():
                ws[op] = Worker([exe, "1", inp, os.path.join(work, op + ".out")],
                                os.path.join(work, op + ".log"))
                ws[op].times(args.warmup)
            t = {op: [] for op in ws}
            c = {op: [] for op in ws}
            for r in range(args.rounds):
                for op in (list(ws) if r % 2 == 0 else list(ws)[::-1]):
                    ws[op].times(1)
                    tt, cc = timed_cpu(ws[op], max(1, args.runs // args.rounds))
                    t[op] += tt
                    c[op].append(cc)
        finally:
            for w in ws.values():
                w.close()
        nbytes = 2 * 4 * shape[0] * shape[1]
        h, g = median(c["Hadamard"]), median(c["Neg"])
        rows.append((n, median(t["Hadamard"]), median(t["Neg"]), h, g,
                     nbytes / h / 1e6, nbytes / g / 1e6))
    print(f"[4096, n] f32, 1 thread, {args.runs} runs a side in {args.rounds} alternating blocks, "
          f"{git_head()}, {cpu_model()}; CPU = median over the blocks of CPU ms per run "
          "(/proc/PID/task/*/schedstat); GB/s = bytes read + written per CPU second")
    print("| n | Hadamard wall ms | Neg wall ms | Hadamard CPU ms | Neg CPU ms | Hadamard GB/s | "
          "Neg GB/s | Hadamard / Neg |")
    print("|---|---|---|---|---|---|---|---|")
    for n, a, b, h, g, hb, gb in rows:
        print(f"| {n} | {a:.2f} | {b:.2f} | {h:.2f} | {g:.2f} | {hb:.1f} | {gb:.1f} | "
              f"{100 * hb / gb:.0f}% |")
    return 0
# ---------------------------------------------------------------- int8

def read_profile(path):
    """{tensor name: (lo, hi)} from a kiln calibration profile (the YAML of
    docs/quantization.md; only the name and range keys are read)."""
    ranges, name = {}, None
    with open(path) as f:
        for line in f:
            s = line.strip()
            if s.startswith("- name:"):
                name = json.loads(s.split(":", 1)[1].strip())
            elif s.startswith("range:") and name is not None:
                lo, hi = json.loads(s.split(":", 1)[1].strip())
                ranges[name] = (float(lo), float(hi))
    return ranges


def make_qdq(model_path, ranges, out_path):
    """Writes the QDQ form of a float model, as ONNX Runtime's quantization
    tool lays it out, with kiln's arithmetic (compiler/ir/qmath.h): uint8
    activations covering the profile's range (0 included), int8 weights
    symmetric per output channel in [-127, 127], int32 biases of scale
    s_x * s_w.  Quantized: the input of every Conv and Gemm, and its output
    (after the Relu that follows it, if one does), and the output of an Add
    of two of those (a residual connection, after its Relu) -- the tensors
    kiln's quantize pass keeps in uint8.  ONNX Runtime fuses the pairs into
    QLinearConv and friends."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    m = onnx.load(model_path)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def act_params(name):
        lo, hi = ranges[name]
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        s = np.float32((hi - lo) / 255.0)
        if not s > 1e-30:
            s = np.float32(1.0)
        return s, np.uint8(np.clip(np.round(-lo / float(s)), 0, 255))

    qset, nodes, new_inits = [], [], []
    for n in g.node:
        if n.op_type not in ("Conv", "Gemm") or n.input[0] not in ranges or n.input[1] not in inits:
            continue
        if n.op_type == "Gemm" and any(a.name == "transA" and a.i for a in n.attribute):
            continue
        sx, _ = act_params(n.input[0])
        w = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
        axis = 0
        if n.op_type == "Gemm" and not any(a.name == "transB" and a.i for a in n.attribute):
            axis = 1
        wc = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
        amax = np.abs(wc).max(axis=1)
        sw = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        wq = np.clip(np.round(w / sw.reshape(shape)), -127, 127).astype(np.int8)
        wn = n.input[1] + "_q"
        new_inits += [numpy_helper.from_array(wq, wn),
                      numpy_helper.from_array(sw, wn + "_scale"),
                      numpy_helper.from_array(np.zeros_like(wq, shape=sw.shape), wn + "_zp")]
        nodes.append(helper.make_node("DequantizeLinear", [wn, wn + "_scale", wn + "_zp"],
                                      [wn + "_dq"], axis=axis))
        n.input[1] = wn + "_dq"
        if len(n.input) > 2 and n.input[2] in inits:
            b = numpy_helper.to_array(inits[n.input[2]]).astype(np.float64)
            sb = (np.float64(sx) * sw.astype(np.float64)).astype(np.float32)
            bq = np.clip(np.round(b / sb), -2**31 + 1, 2**31 - 1).astype(np.int32)
            bn = n.input[2] + "_q"
            new_inits += [numpy_helper.from_array(bq, bn), numpy_helper.from_array(sb, bn + "_scale"),
                          numpy_helper.from_array(np.zeros(bq.shape, np.int32), bn + "_zp")]
            nodes.append(helper.make_node("DequantizeLinear", [bn, bn + "_scale", bn + "_zp"],
                                          [bn + "_dq"], axis=0))
            n.input[2] = bn + "_dq"
        for t in (n.input[0], n.output[0]):
            after = consumers.get(t, [])
            if t == n.output[0] and len(after) == 1 and after[0].op_type == "Relu":
                t = after[0].output[0]
            if t in ranges and t not in qset:
                qset.append(t)
    # an Add of two quantized tensors (a residual connection): its output,
    # after its Relu, is quantized too, as kiln's kiln.QAdd keeps it uint8
    for n in g.node:
        if n.op_type == "Add" and all(i in qset for i in n.input):
            t, after = n.output[0], consumers.get(n.output[0], [])
            if len(after) == 1 and after[0].op_type == "Relu":
                t = after[0].output[0]
            if t in ranges and t not in qset:
                qset.append(t)
    outputs = {o.name for o in g.output}
    producer = {o: n for n in g.node for o in n.output}
    for t in qset:
        s, z = act_params(t)
        src = t
        if t in outputs:  # keep the graph output's name on the dequantized tensor
            src = t + "_f"
            p = producer[t]
            p.output[list(p.output).index(t)] = src
        new_inits += [numpy_helper.from_array(np.array(s, np.float32), t + "_qs"),
                      numpy_helper.from_array(np.array(z, np.uint8), t + "_qz")]
        for c in consumers.get(t, []):
            for k, i in enumerate(c.input):
                if i == t:
                    c.input[k] = t + "_dq"
        nodes.append(helper.make_node("QuantizeLinear", [src, t + "_qs", t + "_qz"], [t + "_qq"]))
        nodes.append(helper.make_node("DequantizeLinear", [t + "_qq", t + "_qs", t + "_qz"],
                                      [t if t in outputs else t + "_dq"]))
    used = {i for n in list(g.node) + nodes for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    g.node.extend(nodes)
    # topological order: each node after the producers of its inputs
    avail = {i.name for i in g.input} | {i.name for i in g.initializer} | {""}
    pending, ordered = list(g.node), []
    while pending:
        rest = []
        for n in pending:
            if all(i in avail for i in n.input):
                ordered.append(n)
                avail.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise ValueError("QDQ model has a cycle")
        pending = rest
    del g.node[:]
    g.node.extend(ordered)
    del g.value_info[:]
    onnx.checker.check_model(m)
    onnx.save(m, out_path)
    return len(qset)


def bench_int8(args, name):
    """Rows for an int8 model: kiln int8 vs kiln fp32 vs ORT on the QDQ form."""
    import numpy as np
    import onnx
    display, _, p = MODELS[name]
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    path, in_files = build_model(p["base"], os.path.join(args.work, "models"))
    model = onnx.load(path)
    flops = count_flops(model)
    ins, outs = io_spec(model)
    del model
    # a few synthetic calibration samples (the benchmark measures speed;
    # docs/quantization.md measures accuracy on trained models)
    calib = os.path.join(work, "calib")
    os.makedirs(calib, exist_ok=True)
    rng = np.random.default_rng(1)
    (_, dt, _, dims), = ins
    for i in range(p["samples"]):
        np.save(os.path.join(calib, f"{i:03d}.npy"), rng.standard_normal(dims).astype(dt))
    kiln = os.path.join(args.build, "compiler", "driver", "kiln")
    profile = os.path.join(work, "profile.yaml")
    run([kiln, "calibrate", path, "--data", calib, "-o", profile, "--method", "minmax"])
    qdq = os.path.join(work, p["base"] + "_qdq.onnx")
    nq = make_qdq(path, read_profile(profile), qdq)
    exe8, c8 = compile_kiln(args, p["base"], path, work, extra=["--quantize", "int8", "--profile", profile],
                            sub="kiln_int8")
    exe32, c32 = compile_kiln(args, p["base"], path, work, sub="kiln_fp32")
    print(f"  {nq} tensors in QDQ; kiln compile int8 {c8:.1f} s, fp32 {c32:.1f} s",
          file=sys.stderr, flush=True)
    rows = []
    for threads in args.threads:
        out = lambda who: [os.path.join(work, f"{who}.t{threads}.out{i}.bin") for i in range(len(outs))]
        spec_path = os.path.join(work, f"ort.t{threads}.json")
        with open(spec_path, "w") as f:
            json.dump({"model": qdq, "outputs": out("ort"),
                       "inputs": [{"name": n, "type": ot, "dims": d, "file": fp}
                                  for (n, _, ot, d), fp in zip(ins, in_files)]}, f)
        env = dict(os.environ, KILN_ORT_DIR=args.ort_dir)
        workers = []
        try:
            workers.append(Worker(["node", os.path.join(BENCH, "ort_bench.js"), spec_path, str(threads)],
                                  os.path.join(work, f"ort.t{threads}.log"), env=env))
            for who, exe in (("int8", exe8), ("fp32", exe32)):
                workers.append(Worker([exe, str(threads)] + in_files + out(who),
                                      os.path.join(work, f"{who}.t{threads}.log")))
            load = lambda files: [np.fromfile(fp, dtype=dt).reshape(d)
                                  for fp, (_, dt, _, d) in zip(files, outs)]
            ref = load(out("fp32"))
            err8, err_ort = max_rel_err(load(out("int8")), ref), max_rel_err(load(out("ort")), ref)
            warm = max(median(w.times(args.warmup)) for w in workers)
            runs, rounds = plan_runs(args, warm)
            times = [[] for _ in workers]
            per = [runs // rounds + (r < runs % rounds) for r in range(rounds)]
            for r, nrun in enumerate(per):  # rotate the order block by block
                for k in range(len(workers)):
                    j = (k + r) % len(workers)
                    time.sleep(SETTLE_S)
                    if warm < REWARM_MS:
                        workers[j].times(1)
                    times[j] += workers[j].times(nrun)
        finally:
            for w in workers:
                w.close()
        ort_ms, i8_ms, f32_ms = (median(t) for t in times)
        rows.append(dict(model=display, name=name, threads=threads, runs=runs, ort_ms=ort_ms,
                         int8_ms=i8_ms, fp32_ms=f32_ms, err_int8=err8, err_ort=err_ort,
                         gflop=flops / 1e9, t_ort=times[0], t_int8=times[1], t_fp32=times[2]))
        print(f"  {threads} thread(s): ORT QDQ {ort_ms:.2f} ms, kiln int8 {i8_ms:.2f} ms,"
              f" kiln fp32 {f32_ms:.2f} ms ({runs} runs each)", file=sys.stderr, flush=True)
    return rows


def int8_table(rows):
    head = ["model", "threads", "runs", "kiln fp32 ms", "kiln int8 ms", "ORT QDQ ms",
            "fp32 / int8", "ORT QDQ / int8", "int8 rel err vs kiln fp32 (kiln, ORT)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | | | | | | | | failed: "
                         + r["error"].strip().splitlines()[-1][:100] + " |")
            continue
        lines.append(f"| {r['model']} | {r['threads']} | {r['runs']} | {fmt_ms(r['fp32_ms'])} |"
                     f" {fmt_ms(r['int8_ms'])} | {fmt_ms(r['ort_ms'])} |"
                     f" {r['fp32_ms'] / r['int8_ms']:.2f} | {r['ort_ms'] / r['int8_ms']:.2f} |"
                     f" {r['err_int8']:.1e}, {r['err_ort']:.1e} |")
    return "\n".join(lines)


def measure_peak(args, threads_list):
    """GFLOP/s of bench/peak_flops.c per thread count."""
    exe = os.path.join(args.work, "peak_flops")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(
            os.path.join(BENCH, "peak_flops.c")):
        run(["cc", "-O2", "-march=native", "-pthread", os.path.join(BENCH, "peak_flops.c"),
             "-o", exe])
    peak, isa = {}, ""
    for t in threads_list:
        f = run([exe, str(t)]).split()
        kv = dict(zip(f[0::2], f[1::2]))
        peak[t], isa = float(kv["gflops"]), kv["isa"]
    return peak, isa


# ---------------------------------------------------------------- report

def fmt_ms(x):
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def table(rows):
    """The markdown table of the results (one line per model and thread count)."""
    head = ["model", "threads", "runs", "ORT ms", "kiln ms", "kiln / ORT", "kiln GFLOP/s",
            "kiln % of peak", "ORT % of peak", "max rel err vs ORT"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            cells = [r["model"], str(r.get("threads", "")), "", "", "", "", "", "", "",
                     # the last line: the tool's own message, after the command
                     "failed: " + r["error"].strip().splitlines()[-1][:100]]
        else:
            err = f"{r['err']:.1e}" + (" (WRONG)" if not r["err"] <= ERR_LIMIT else "")
            cells = [r["model"], str(r["threads"]), str(r["runs"]), fmt_ms(r["ort_ms"]), fmt_ms(r["kiln_ms"]),
                     f"{r['ratio']:.2f}", f"{r['kiln_gflops']:.1f}",
                     f"{r['kiln_peak_pct']:.0f}%", f"{r['ort_peak_pct']:.0f}%", err]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def model_table(rows):
    """Per model: the FLOPs counted, the ONNX size and kiln's compile time."""
    seen, lines = set(), ["| model | GFLOP | ONNX MB | kiln compile s |", "|---|---|---|---|"]
    for r in rows:
        if r["model"] in seen or "gflop" not in r:
            continue
        seen.add(r["model"])
        lines.append(f"| {r['model']} | {r['gflop']:.3g} | {r['onnx_mb']:.1f} |"
                     f" {r['compile_s']:.1f} |")
    return "\n".join(lines)


def cpu_seconds():
    """(CPU seconds all processes spent busy, CPU seconds of this process and
    its reaped children), from /proc/stat and os.times()."""
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...: busy = all but idle, iowait
    busy = (sum(cpu[:8]) - cpu[3] - cpu[4]) / os.sysconf("SC_CLK_TCK")
    t = os.times()
    return busy, t.user + t.system + t.children_user + t.children_system


def cpu_model():
    try:
        for line in run(["lscpu"]).splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, RuntimeError):
        pass
    return platform.processor() or "unknown CPU"


def ort_version(ort_dir):
    try:
        with open(os.path.join(ort_dir, "onnxruntime-node", "package.json")) as f:
            return json.load(f)["version"]
    except OSError:
        return None


def git_head():
    try:
        return run(["git", "-C", SRC, "describe", "--always", "--dirty"]).strip()
    except (OSError, RuntimeError):
        return "unknown"


# ---------------------------------------------------------------- self test

def selftest():
    """FLOP counting on hand-counted graphs and the table code; no timing."""
    try:
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        print("bench.py --selftest: numpy or onnx missing: skipped")
        return 77
    checks = []

    def check(what, got, want):
        checks.append((what, got == want))
        if got != want:
            print(f"FAIL {what}: got {got!r}, want {want!r}")

    def graph_model(nodes, inputs, outputs, inits=()):
        g = helper.make_graph(nodes, "t",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                               for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                               for n in outputs],
                              [numpy_helper.from_array(np.zeros(s, np.float32), n)
                               for n, s in inits])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    # 2x3 @ 3x4: 24 multiply-adds
    check("matmul 2x3x4", count_flops(graph_model(
        [helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", [2, 3])], ["y"],
        [("b", [3, 4])])), 2 * 2 * 3 * 4)
    # broadcast batch: [2,1,5,3] @ [7,3,4] -> [2,7,5,4]
    check("matmul broadcast", count_flops(graph_model(
        [helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", [2, 1, 5, 3]), ("b", [7, 3, 4])],
        ["y"])), 2 * (2 * 7) * 5 * 3 * 4)
    # vector @ matrix: [3] @ [3,4] -> [4]
    check("matmul vector", count_flops(graph_model(
        [helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", [3]), ("b", [3, 4])],
        ["y"])), 2 * 3 * 4)
    # Gemm with transposed B: A 6x5, B 8x5 -> 6x8
    check("gemm transB", count_flops(graph_model(
        [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1)], [("a", [6, 5])], ["y"],
        [("b", [8, 5]), ("c", [8])])), 2 * 6 * 8 * 5)
    # grouped, padded, strided conv: x 1x4x9x9, w 6x2x3x3, groups 2, stride 2, pad 1
    # -> y 1x6x5x5; each output does 2*3*3 multiply-adds
    conv = graph_model(
        [helper.make_node("Conv", ["x", "w"], ["y"], group=2, strides=[2, 2],
                          pads=[1, 1, 1, 1])], [("x", [2, 4, 9, 9])], ["y"], [("w", [6, 2, 3, 3])])
    check("conv grouped", count_flops(conv), 2 * (2 * 6 * 5 * 5) * (2 * 3 * 3))
    # elementwise work is not counted; a Relu alone is 0
    check("relu only", count_flops(graph_model(
        [helper.make_node("Relu", ["x"], ["y"])], [("x", [4, 4])], ["y"])), 0)
    # an unknown shape is an error, never a guess
    try:
        count_flops(graph_model([helper.make_node("MatMul", ["a", "b"], ["y"])],
                                [("a", ["n", 3]), ("b", [3, 4])], ["y"]))
        check("unknown shape refused", False, True)
    except ValueError:
        check("unknown shape refused", True, True)

    check("median odd", median([3, 1, 2]), 2)
    check("median even", median([4, 1, 3, 2]), 2.5)
    want = np.array([1.0, -4.0, 2.0], np.float32)
    check("rel err", max_rel_err([want + np.float32(0.5)], [want]), 0.5 / 4)
    check("rel err shape", max_rel_err([want[:2]], [want]), float("inf"))

    row = dict(model="M", threads=2, runs=7, ort_ms=10.0, kiln_ms=5.0, ratio=0.5, kiln_gflops=1.5,
               kiln_peak_pct=12.0, ort_peak_pct=6.0, err=1e-6, gflop=0.0075, onnx_mb=1.0,
               compile_s=0.5)
    bad = dict(row, err=0.25)
    lines = table([row, bad, dict(model="N", threads=1, error="cc x.c: exit 1\nx.c: boom\n")]).splitlines()
    check("table lines", len(lines), 5)
    check("table columns", {line.count("|") for line in lines}, {11})
    check("table row", lines[2].split("|")[1:-1],
          [" M ", " 2 ", " 7 ", " 10 ", " 5 ", " 0.50 ", " 1.5 ", " 12% ", " 6% ", " 1.0e-06 "])
    check("wrong flagged", "(WRONG)" in lines[3], True)
    check("failure shown", "failed: x.c: boom |" in lines[4], True)
    passed = sum(ok for _, ok in checks)
    print(f"{passed} passed, {len(checks) - passed} failed")
    return 0 if passed == len(checks) else 1


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(SRC, "build"),
                    help="configured and built tree holding compiler/driver/kiln (default build)")
    ap.add_argument("--work", help="cache of models and libraries (default BUILD/bench)")
    ap.add_argument("--ort-dir", default=os.path.join(BENCH, "node_modules"),
                    help="node_modules holding onnxruntime-node (default bench/node_modules)")
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated, from: " + ", ".join(MODELS))
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (1,2)")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per side (20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs first (3)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="alternating blocks the timed runs are cut into (5)")
    ap.add_argument("--budget", type=float, default=10,
                    help="seconds of timed runs a side per model and thread count; slower"
                    f" models get fewer runs, at least {MIN_RUNS} (10)")
    ap.add_argument("--quick", action="store_true",
                    help="5 runs, 1 warm-up, 3 s budget: a rough table, quickly")
    ap.add_argument("--kiln-flags", default="",
                    help="extra `kiln compile` options (write --kiln-flags=-O3: a value"
                    " starting with '-' needs the '=')")
    ap.add_argument("--json", help="also write every row (with all run times) to this file")
    ap.add_argument("--selftest", action="store_true", help="check FLOP counting and the table")
    ap.add_argument("--hadamard", action="store_true",
                    help="instead of the table: kiln.Hadamard at n = 256 and 4096 against Neg "
                         "(memory speed), one thread")
    ap.add_argument("--w4", action="store_true",
                    help="instead of the table: a d768 L12 GPT decode step, kiln fp32 against "
                         "kiln --quantize w4a16")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs, args.warmup, args.budget = 5, 1, 3
    args.build = os.path.abspath(args.build)
    args.work = os.path.abspath(args.work or os.path.join(args.build, "bench"))
    args.models = [m for m in args.models.split(",") if m]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    args.threads = [int(t) for t in args.threads.split(",") if t]
    if args.runs < 1 or args.rounds < 1 or args.warmup < 1 or not args.threads:
        ap.error("--runs, --rounds, --warmup and --threads need positive values")
    args.rounds = min(args.rounds, args.runs)
    return args


def main(argv):
    args = parse_args(argv)
    if args.selftest:
        return selftest()
    if args.hadamard:
        os.makedirs(args.work, exist_ok=True)
        return bench_hadamard(args)
    if args.w4:
        os.makedirs(args.work, exist_ok=True)
        return bench_w4(args)
    kiln = os.path.join(args.build, "compiler", "driver", "kiln")
    if not os.access(kiln, os.X_OK):
        sys.exit(f"bench.py: no {kiln}: build kiln first (meson setup build && ninja -C build)")
    version = ort_version(args.ort_dir)
    if not version:
        sys.exit(f"bench.py: no onnxruntime-node in {args.ort_dir}: run bench/run.sh,"
                 " which installs it")
    os.makedirs(args.work, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    busy0, ours0 = cpu_seconds()
    peak, isa = measure_peak(args, args.threads)
    rows, int8_rows = [], []
    for name in args.models:
        print(f"{MODELS[name][0]}:", file=sys.stderr, flush=True)
        int8 = MODELS[name][1] == "int8"
        try:
            if int8:
                int8_rows += bench_int8(args, name)
            else:
                rows += bench_model(args, name)
        except (RuntimeError, ValueError, OSError) as e:
            print(f"  failed: {e}", file=sys.stderr)
            (int8_rows if int8 else rows).append(dict(model=MODELS[name][0], error=str(e)))
    peak_end, _ = measure_peak(args, args.threads)
    for t in peak:
        peak[t] = max(peak[t], peak_end[t])
    # % of peak against the higher of the two probes
    for r in rows:
        if "error" not in r:
            r["kiln_peak_pct"] = 100 * r["kiln_gflops"] / peak[r["threads"]]
            r["ort_peak_pct"] = 100 * r["gflop"] * 1e3 / r["ort_ms"] / peak[r["threads"]]
    wall = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    busy1, ours1 = cpu_seconds()
    # cores other processes kept busy on average: what the timings competed with
    others = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / wall
    print(f"kiln {git_head()} vs ONNX Runtime {version} (onnxruntime-node, CPU),"
          f" {started:%Y-%m-%d %H:%M} UTC, {cpu_model()}")
    print("peak fp32 (bench/peak_flops.c, " + isa + "): " +
          ", ".join(f"{peak[t]:.0f} GFLOP/s at {t} thread{'s' if t > 1 else ''}"
                    for t in args.threads))
    print(f"median of {args.runs} runs a side (fewer when they would pass {args.budget:g} s),"
          f" after {args.warmup} warm-up run(s), in {args.rounds} alternating blocks;"
          f" {wall / 60:.1f} min; other processes kept {others:.2f} of {os.cpu_count()}"
          " cores busy meanwhile" + (" (a busy machine: medians are noisy)" if others > 0.25
                                    else ""))
    print(f"command: bench/run.sh {shlex.join(argv)}".rstrip())
    print()
    if rows:
        print(table(rows))
        print()
        print(model_table(rows))
    if int8_rows:
        print()
        print(int8_table(int8_rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(peak=peak, isa=isa, ort=version, kiln=git_head(), rows=rows,
                           int8_rows=int8_rows), f, indent=1)
    bad = [r for r in rows if "error" in r or not r["err"] <= ERR_LIMIT]
    bad += [r for r in int8_rows if "error" in r]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
