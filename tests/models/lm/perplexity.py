#!/usr/bin/python3
"""Held-out perplexity of a test language model as kiln compiles it.

    perplexity.py KILN MODEL.onnx [--windows N] [--work DIR] [KILN OPTIONS...]

Compiles MODEL.onnx with `kiln compile` and the given options (e.g.
`--rotate hadamard`, and the `--quantize` modes once they exist), links
lm/eval.c against the library with cc, runs it over the first N (default:
all) non-overlapping 64-token windows of the held-out text (lm.py), and
prints

    MODEL OPTIONS: perplexity P (W windows, T predicted characters)

perplexity = exp(mean cross-entropy of each next character).  Also usable
as a module: perplexity(kiln, model, options) returns P.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lm  # noqa: E402


def compile_eval(kiln, model, options, work):
    """Compiles the model and links lm_eval; returns the program's path."""
    os.makedirs(work, exist_ok=True)
    r = subprocess.run([kiln, "compile", model, "-o", work, "--name", "lm", *options],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"kiln compile {model} {' '.join(options)}: {r.stderr.strip()}")
    exe = os.path.join(work, "lm_eval")
    r = subprocess.run(["cc", "-O2", "-DKILN_MODEL=lm_model", "-I" + work,
                        os.path.join(HERE, "eval.c"), os.path.join(work, "liblm.a"),
                        "-lpthread", "-lm", "-o", exe], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"cc: {r.stderr.strip()}")
    return exe


def logits(exe, x, work):
    """Runs the program over windows x [W, T] int64; returns [W, T, V] f32."""
    tok = os.path.join(work, "tokens.bin")
    out = os.path.join(work, "logits.bin")
    x.astype(np.int64).tofile(tok)
    r = subprocess.run([exe, str(len(x)), tok, out], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"lm_eval: {r.stderr.strip()}")
    return np.fromfile(out, dtype=np.float32).reshape(len(x), lm.T, lm.VOCAB)


def nll(z, y):
    z = z.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(logp, y[..., None], axis=-1).mean()


def perplexity(kiln, model, options=(), windows=None, work=None):
    x, y = lm.windows(lm.load_text()[1])
    if windows:
        x, y = x[:windows], y[:windows]
    with tempfile.TemporaryDirectory() as tmp:
        work = work or tmp
        exe = compile_eval(kiln, model, list(options), work)
        return float(np.exp(nll(logits(exe, x, work), y))), len(x)


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        raise SystemExit(__doc__)
    kiln, model, rest = args[0], args[1], args[2:]
    windows = work = None
    if "--windows" in rest:
        i = rest.index("--windows")
        windows = int(rest[i + 1])
        del rest[i:i + 2]
    if "--work" in rest:
        i = rest.index("--work")
        work = rest[i + 1]
        del rest[i:i + 2]
    p, w = perplexity(kiln, model, rest, windows, work)
    print(f"{os.path.basename(model)} {' '.join(rest) or '(fp32)'}: perplexity {p:.4f} "
          f"({w} windows, {w * lm.T} predicted characters)")


if __name__ == "__main__":
    main()
