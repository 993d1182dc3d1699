#!/usr/bin/python3
"""Held-out perplexity of the trained LMs under kiln's quantization modes.

    quant_ppl.py KILN WORKDIR [--windows N] [--models a,b] [--group-size G] [--check]

For lm_gpt, lm_llama (tests/models/lm) and their outlier versions
(outliers.py, made in WORKDIR), compiles with each configuration

    fp32, w8a8, w4a16, w4a8, w4a8 + --rotate hadamard

and prints the perplexity over the first N (default: all 370) held-out
windows as a Markdown table (docs/quantization.md has it).  The w4 modes
use --group-size G (default 32).  w8a8 and w4a8
calibrate on 32 windows of the *training* text (WORKDIR/calib, one
int64 [1, 64] .npy per sample), never on the held-out windows.

--check (the meson test models_quant_lm) asserts what must hold, each a
line "PASS/FAIL ...", then "N passed, M failed":
  - on each outlier model, rotation lowers w4a8's perplexity (whether it
    removes at least half of w4a8's increase over fp32, the issue's goal,
    is printed as a GOAL line, not counted: it is a measurement);
  - on every model, w8a8 is closer to fp32 than w4a8, and w4a16 is within
    10% of fp32.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lm  # noqa: E402
import outliers  # noqa: E402
import perplexity  # noqa: E402

CALIB_WINDOWS = 32


def calib_dir(work, n=CALIB_WINDOWS):
    """n windows spread evenly over the training text (every licence has a
    say, not only the first file's), one sample each."""
    d = os.path.join(work, "calib")
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):  # a larger folder from an earlier run
        os.remove(os.path.join(d, old))
    x, _ = lm.windows(lm.load_text()[0])
    pick = np.linspace(0, len(x) - 1, n).astype(int)
    for i, w in enumerate(pick):
        np.save(os.path.join(d, f"{i:03d}.npy"), x[w:w + 1].astype(np.int64))
    return d


def models(work):
    out = {}
    for kind in ("gpt", "llama"):
        src = os.path.join(HERE, f"lm_{kind}.onnx")
        out[f"lm_{kind}"] = src
        out[f"lm_{kind} outlier"] = outliers.made(src, work)
    return out


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        raise SystemExit(__doc__)
    kiln, work = args[0], args[1]
    windows = int(args[args.index("--windows") + 1]) if "--windows" in args else None
    only = args[args.index("--models") + 1].split(",") if "--models" in args else None
    check = "--check" in args
    gs = args[args.index("--group-size") + 1] if "--group-size" in args else "32"
    os.makedirs(work, exist_ok=True)
    calib = calib_dir(work)
    configs = [("fp32", []),
               ("w8a8", ["--quantize", "w8a8", "--data", calib]),
               ("w4a16", ["--quantize", "w4a16", "--group-size", gs]),
               ("w4a8", ["--quantize", "w4a8", "--group-size", gs, "--data", calib]),
               ("w4a8 + rotation", ["--quantize", "w4a8", "--group-size", gs, "--data", calib,
                                    "--rotate", "hadamard"])]
    table = {}
    for name, path in models(work).items():
        if only and name not in only:
            continue
        row = table[name] = {}
        for cname, opts in configs:
            wdir = os.path.join(work, name.replace(" ", "_") + "_" + cname.replace(" + ", "_") + "_g" + gs)
            try:
                row[cname], nw = perplexity.perplexity(kiln, path, opts, windows, wdir)
            except RuntimeError as e:
                print(f"FAIL {name} {cname}: {e}", flush=True)
                row[cname] = float("nan")
        print(f"     {name}: " + ", ".join(f"{c} {row[c]:.4f}" for c, _ in configs), flush=True)
    print(f"\n| model | {' | '.join(c for c, _ in configs)} | rotation removes |")
    print("|---|" + "---|" * (len(configs) + 1))
    for name, row in table.items():
        gone = (row["w4a8"] - row["w4a8 + rotation"]) / (row["w4a8"] - row["fp32"])
        print(f"| {name} | " + " | ".join(f"{row[c]:.4f}" for c, _ in configs) +
              f" | {100 * gone:.0f}% |")
    if not check:
        return
    passed = failed = 0

    def expect(ok, what):
        nonlocal passed, failed
        print(("PASS " if ok else "FAIL ") + what, flush=True)
        passed += bool(ok)
        failed += not ok

    for name, r in table.items():
        fp, w8, w4, w4a8, rot = (r[c] for c, _ in configs)
        expect(abs(w8 - fp) < abs(w4a8 - fp),
               f"{name}: w8a8 {w8:.4f} is closer to fp32 {fp:.4f} than w4a8 {w4a8:.4f}")
        expect(w4 < 1.1 * fp, f"{name}: w4a16 {w4:.4f} within 10% of fp32 {fp:.4f}")
        if name.endswith("outlier"):
            expect(rot < w4a8, f"{name}: rotation lowers w4a8's perplexity ({w4a8:.4f} -> {rot:.4f})")
            met = w4a8 - rot >= 0.5 * (w4a8 - fp)
            print(f"GOAL {'met' if met else 'not met'}: {name}: rotation removes "
                  f"{100 * (w4a8 - rot) / (w4a8 - fp):.0f}% of w4a8's increase over fp32 "
                  f"({w4a8 - fp:.4f} -> {rot - fp:.4f}; the goal is at least half)")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
