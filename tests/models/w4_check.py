#!/usr/bin/python3
"""kiln.MatMulW4 (--quantize w4a16 / w4a8) against a numpy rendering of
its definition (docs/quantization.md, "4-bit weights").

    w4_check.py KILN WORKDIR

A small model (MatMul with a [K, N] weight, then Gemm with transB and a
bias, N not a multiple of 64 so a narrower column block is used) runs
through `kiln run`; numpy quantizes the weights the same way (per group
of G rows of K and column, scale = max|w| / 7 in f32, round half to even,
clamp to [-7, 7]) and computes the product group by group.  Checks, each
a line "PASS/FAIL ...", then "N passed, M failed":
  - w4a16 for G = 32, 64, 128 within 1e-5 of the numpy result (float
    sums in another order), and not equal to the float model's output;
  - w4a8 with a hand-written profile: the input quantized to uint8
    exactly as qmath.h says, group sums exact, within 1e-5;
  - 1, 2 and 3 threads give the same bits;
  - `kiln dump --print-after quantize` shows kiln.MatMulW4 and group_size;
  - bad input: --group-size 48 or with w8a8 (exit 2), w4a8 without ranges
    (exit 1).
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

K, N1, N2, M = 256, 96, 40, 5


def model(path, rng):
    w1 = rng.standard_normal((K, N1)).astype(np.float32)
    w1[:, 3] *= 6  # an outlier column, and one large row
    w1[17, :] *= 4
    w2 = rng.standard_normal((N2, N1 * 0 + 128)).astype(np.float32)  # Gemm B, transB: [N2, K2]
    b2 = rng.standard_normal(N2).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm"),
             helper.make_node("Slice", ["h", "st", "en", "ax"], ["hs"], name="slice"),
             helper.make_node("Relu", ["hs"], ["r"], name="relu"),
             helper.make_node("Concat", ["r", "r"], ["rr"], name="cat", axis=1),
             helper.make_node("Slice", ["rr", "st", "en2", "ax"], ["g_in"], name="slice2"),
             helper.make_node("Gemm", ["g_in", "w2", "b2"], ["y"], name="gemm", transB=1)]
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
             numpy_helper.from_array(b2, "b2"),
             numpy_helper.from_array(np.array([0], np.int64), "st"),
             numpy_helper.from_array(np.array([64], np.int64), "en"),
             numpy_helper.from_array(np.array([128], np.int64), "en2"),
             numpy_helper.from_array(np.array([1], np.int64), "ax")]
    g = helper.make_graph(nodes, "w4", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, N2]),
                           helper.make_tensor_value_info("h", TensorProto.FLOAT, [M, N1])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return w1, w2.T.copy(), b2


def q4(w, G):
    k, n = w.shape
    wg = w.reshape(k // G, G, n)
    amax = np.abs(wg).max(axis=1)
    s = np.where(amax > 0, (amax.astype(np.float64) / 7).astype(np.float32), np.float32(1))
    q = np.clip(np.round(wg.astype(np.float64) / s[:, None, :].astype(np.float64)), -7, 7)
    return q, s


def w4_matmul(x, w, G, bias=None, xq=None):
    """xq = (u8 values, scale, zero point) for w4a8; x itself for w4a16."""
    q, s = q4(w, G)
    k = w.shape[0]
    if xq is not None:
        xv, sx, zx = xq
        xi = xv.astype(np.int64) - zx
        parts = np.einsum("mgk,gkn->mgn", xi.reshape(-1, k // G, G), q.astype(np.int64)).astype(np.float64)
        y = sx * (parts * s[None].astype(np.float64)).sum(axis=1)
    else:
        parts = np.einsum("mgk,gkn->mgn", x.reshape(-1, k // G, G).astype(np.float64), q)
        y = (parts * s[None].astype(np.float64)).sum(axis=1)
    return y + (bias if bias is not None else 0)


def main():
    kiln, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(0)
    path = os.path.join(work, "w4.onnx")
    w1, w2, b2 = model(path, rng)
    x = rng.standard_normal((M, K)).astype(np.float32)
    np.save(os.path.join(work, "x.npy"), x)
    passed = failed = 0

    def expect(ok, what):
        nonlocal passed, failed
        print(("PASS " if ok else "FAIL ") + what, flush=True)
        passed += bool(ok)
        failed += not ok

    def run(*opts):
        out = os.path.join(work, "out_" + "_".join(o.strip("-").replace("/", "") for o in opts)[-80:])
        r = subprocess.run([kiln, "run", path, "--input", os.path.join(work, "x.npy"),
                            "--output-dir", out, *opts], capture_output=True, text=True)
        if r.returncode:
            return None, r
        return {n: np.load(os.path.join(out, n + ".npy")) for n in ("y", "h")}, r

    def ref_tail(h):
        rr = np.maximum(h[:, :64], 0)
        return np.concatenate([rr, rr], axis=1)

    for G in (32, 64, 128):
        got, r = run("--quantize", "w4a16", "--group-size", str(G))
        if got is None:
            expect(False, f"w4a16 G={G}: {r.stderr.strip()[-300:]}")
            continue
        h = w4_matmul(x, w1, G)
        y = w4_matmul(ref_tail(got["h"]), w2, G, b2)
        eh = np.abs(got["h"] - h).max() / np.abs(h).max()
        ey = np.abs(got["y"] - y).max() / np.abs(y).max()
        expect(eh < 1e-5 and ey < 1e-5, f"w4a16 G={G}: MatMul error {eh:.1e}, Gemm error {ey:.1e}")
        fh = x @ w1
        expect(np.abs(got["h"] - fh).max() > 1e-3, f"w4a16 G={G}: differs from the float product")
        same = True
        for t in ("1", "3"):
            other, _ = run("--quantize", "w4a16", "--group-size", str(G), "--threads", t)
            same = same and other is not None and all(np.array_equal(other[n], got[n]) for n in got)
        expect(same, f"w4a16 G={G}: 1, 3 threads and the default give the same bits")

    lo, hi = float(x.min()), float(x.max())
    hr = ref_tail(x @ w1)
    prof = os.path.join(work, "p.yaml")
    with open(prof, "w") as f:
        f.write("version: 1\nmodel: \"w4\"\nmethod: minmax\ntensors:\n"
                f"  - name: \"x\"\n    range: [{lo!r}, {hi!r}]\n"
                f"  - name: \"g_in\"\n    range: [0, {float(hr.max())!r}]\n")
    got, r = run("--quantize", "w4a8", "--profile", prof, "--group-size", "64")
    if got is None:
        expect(False, f"w4a8: {r.stderr.strip()[-300:]}")
    else:
        sx = np.float32((hi - lo) / 255)
        zx = int(np.round(-lo / np.float64(sx)))
        xv = np.clip(np.round(x.astype(np.float64) / np.float64(sx)) + zx, 0, 255)
        h = w4_matmul(None, w1, 64, xq=(xv, np.float64(sx), zx))
        eh = np.abs(got["h"] - h).max() / np.abs(h).max()
        expect(eh < 1e-5, f"w4a8 G=64: MatMul error {eh:.1e} against the integer definition")
        other, _ = run("--quantize", "w4a8", "--profile", prof, "--group-size", "64", "--threads", "2")
        expect(other is not None and all(np.array_equal(other[n], got[n]) for n in got),
               "w4a8: 2 threads give the same bits")

    r = subprocess.run([kiln, "dump", path, "--quantize", "w4a16", "--group-size", "32",
                        "--print-after", "quantize"], capture_output=True, text=True)
    expect(r.returncode == 0 and "kiln.MatMulW4" in r.stdout and "group_size = 32" in r.stdout
           and "i4[256,96]" in r.stdout, "dump --print-after quantize shows MatMulW4, i4 weights, group_size")
    r = subprocess.run([kiln, "run", path, "--quantize", "w4a16", "--group-size", "48"],
                       capture_output=True, text=True)
    expect(r.returncode == 2 and "32, 64 or 128" in r.stderr, f"--group-size 48 refused: {r.stderr.strip()}")
    r = subprocess.run([kiln, "run", path, "--quantize", "w8a8", "--group-size", "32"],
                       capture_output=True, text=True)
    expect(r.returncode == 2 and "w4a8 or w4a16 only" in r.stderr,
           f"--group-size with w8a8 refused: {r.stderr.strip()}")
    r = subprocess.run([kiln, "run", path, "--input", os.path.join(work, "x.npy"), "--quantize", "w4a8"],
                       capture_output=True, text=True)
    expect(r.returncode == 1 and "needs activation ranges" in r.stderr,
           f"w4a8 without ranges refused: {r.stderr.strip()[-200:]}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
