#!/usr/bin/python3
"""sparse.py — the speed figures of docs/sparsity.md: pruned models against
kiln's own dense code, measured in one run, alternating the builds.

For each case it runs `kiln bench` (compile in memory, generated input) on
the dense model and on the pruned one(s), `--rounds` times in turn (dense,
pruned, dense, ...), and prints per build the median of its medians and
the speed-up over dense.  Cases (the issue's goals):

  gpt90    GPT d768 L12 T128, every MatMul 90% pruned in block:1x16
  gpt70    the same at 70%
  gpt24    the same 2:4 (the cost model keeps the dense kernel: "never slower")
  gpt48    the same 4:8 (dense kernel too)
  gpt14    the same 1:4 (the N:M kernel)
  r50      ResNet-50, its 36 1x1 convolutions 80% pruned in block:16x1
           (a --prune-layers file naming them; the 3x3 and 7x7 stay
           dense), also with --sparse off (the same weights, dense kernel)

Models come from bench/bench.py's cache (BUILD/bench/models, exported on
first use).  Usage:
  bench/sparse.py [--build DIR] [--cases gpt90,gpt70,gpt24,gpt48,gpt14,r50]
                  [--threads N] [--rounds R] [--iterations K]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import bench  # noqa: E402  (model export and cache)


def one_by_one_convs(path):
    """Names of the Conv nodes of an ONNX model whose kernel is 1x1."""
    import onnx
    m = onnx.load(path)
    inits = {i.name: i for i in m.graph.initializer}
    names = []
    for n in m.graph.node:
        if n.op_type != "Conv" or len(n.input) < 2 or n.input[1] not in inits:
            continue
        dims = list(inits[n.input[1]].dims)
        if len(dims) == 4 and dims[2] == 1 and dims[3] == 1:
            names.append(n.name)
    return names


def kiln_median(kiln, model, flags, threads, iterations):
    cmd = [kiln, "bench", model, "--threads", str(threads), "--iterations", str(iterations),
           "--warmup", "2"] + flags
    out = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"median ([0-9.]+)", out.stdout + out.stderr)
    if out.returncode or not m:
        sys.exit(f"sparse.py: {' '.join(cmd)} failed:\n{out.stderr}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--cases", default="gpt90,gpt70,gpt24,r50")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=10)
    args = ap.parse_args()
    kiln = os.path.join(args.build, "compiler", "driver", "kiln")
    models = os.path.join(args.build, "bench", "models")
    work = os.path.join(args.build, "bench", "sparse")
    os.makedirs(work, exist_ok=True)
    prune = "--prune magnitude --pattern".split()
    cases = {
        "gpt90": ("gpt_d768", [("block 1x16 90%", prune + ["block:1x16", "--sparsity", "0.9"])]),
        "gpt70": ("gpt_d768", [("block 1x16 70%", prune + ["block:1x16", "--sparsity", "0.7"])]),
        "gpt24": ("gpt_d768", [("2:4", prune + ["2:4"])]),
        "gpt48": ("gpt_d768", [("4:8", prune + ["4:8"])]),
        "gpt14": ("gpt_d768", [("1:4", prune + ["1:4"])]),
        "r50": ("resnet50", None),
    }
    t0 = time.monotonic()
    print(f"kiln bench, {args.threads} thread(s), {args.iterations} timed runs a build, "
          f"{args.rounds} alternating rounds; median of the rounds' medians\n")
    print("| model | build | ms | speed-up over dense |\n|---|---|---|---|")
    for case in args.cases.split(","):
        name, builds = cases[case]
        path, _ = bench.build_model(name, models)
        if builds is None:  # ResNet-50: its 1x1 convolutions only
            layers = os.path.join(work, "r50_1x1.yaml")
            with open(layers, "w") as f:
                for n in one_by_one_convs(path):
                    f.write(f'"{n}": 0.8\n')
            flags = prune + ["block:16x1", "--sparsity", "0", "--prune-layers", layers]
            builds = [("1x1 convolutions 80% block:16x1", flags),
                      ("the same, --sparse off", flags + ["--sparse", "off"])]
        all_builds = [("dense", [])] + builds
        times = {b: [] for b, _ in all_builds}
        for _ in range(args.rounds):
            for b, flags in all_builds:
                times[b].append(kiln_median(kiln, path, flags, args.threads, args.iterations))
        dense = statistics.median(times["dense"])
        for b, _ in all_builds:
            t = statistics.median(times[b])
            print(f"| {bench.MODELS[name][0]} | {b} | {t:.1f} | {dense / t:.2f}x |", flush=True)
    print(f"\n{(time.monotonic() - t0) / 60:.1f} min; command: bench/sparse.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
