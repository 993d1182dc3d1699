#!/usr/bin/python3
"""int8 quantization end to end on the digits CNN (examples/digits), and bad input.

  1. The digits model gets a symbolic batch dim (so the 297 held-out images run
     as one batch); calibration data is the first 100 training images of
     train.py's split (examples/digits/make_data.py).
  2. For each method (minmax, percentile, entropy, mse): `kiln calibrate`, then
     `kiln run --quantize int8 --profile`: top-1 agreement with fp32 >= 99%.
  3. `kiln run --quantize int8 --data DIR` (calibration in one step) gives the
     same bits as --profile from the same method; 1, 2 and 4 threads give the
     same bits; the graph really is integer (kiln.QConv and kiln.QMatMul in the
     dump); `kiln compile --quantize int8` links and its library matches `kiln run`.
  4. Bad input is a clear error (exit 1, message naming the problem): a profile of
     another model, a wrong version, a bad value, a truncated file (the message
     names a line), an empty data folder, samples of the wrong shape or dtype, a
     multi-input sample folder missing an input.

Usage: quant.py KILN MODELDIR WORKDIR   (MODELDIR unused: the model is in examples/)
Prints one line per check and ends with "N passed, M failed".
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
METHODS = ["minmax", "percentile", "entropy", "mse"]


def main():
    kiln, _, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        print(("PASS " if ok else "FAIL ") + what, flush=True)
        passed += bool(ok)
        failed += not ok

    def kiln_run(*args):
        return subprocess.run([kiln, *args], capture_output=True, text=True)

    # the model with a symbolic batch, and the data
    m = onnx.load(os.path.join(ROOT, "examples/digits/digits.onnx"))
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    del m.graph.value_info[:]
    model = os.path.join(work, "digits.onnx")
    onnx.save(m, model)
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "examples/digits/make_data.py"), work],
                   check=True)
    calib, heldout = os.path.join(work, "calib"), os.path.join(work, "heldout.npy")
    r = kiln_run("run", model, "--input", heldout, "--output-dir", os.path.join(work, "f32"))
    if r.returncode:
        print(r.stderr)
        sys.exit(1)
    ref = np.load(os.path.join(work, "f32", "logits.npy"))

    def int8_logits(tag, *opts):
        out = os.path.join(work, tag)
        r = kiln_run("run", model, "--input", heldout, "--output-dir", out, "--quantize", "int8", *opts)
        if r.returncode:
            print(f"  {tag}: {r.stderr.strip()}")
            return None
        return np.load(os.path.join(out, "logits.npy"))

    for method in METHODS:
        prof = os.path.join(work, f"{method}.yaml")
        r = kiln_run("calibrate", model, "--data", calib, "-o", prof, "--method", method)
        if r.returncode:
            check(False, f"calibrate --method {method}: {r.stderr.strip()}")
            continue
        got = int8_logits(method, "--profile", prof)
        agree = float((got.argmax(1) == ref.argmax(1)).mean()) if got is not None else 0
        check(agree >= 0.99, f"int8 {method}: top-1 agreement with fp32 {agree:.4f} >= 0.99 "
              f"(mean |dlogit| {np.abs(got - ref).mean() if got is not None else -1:.4f})")

    # calibrate stops before fuse-ops (kiln_calib_pipeline): with the samples'
    # static shapes, fusion would fold each Conv's output into its Relu, and
    # quantize (which runs before fuse-ops) looks those outputs up
    r = kiln_run("dump", model, "--passes", "infer-shapes")
    conv_outs = [l.split(" : ")[0].strip().lstrip("%").strip('"') for l in r.stdout.splitlines()
                 if " = Conv(" in l]
    prof_text = open(os.path.join(work, "minmax.yaml")).read()
    check(conv_outs and all(f'name: "{n}"' in prof_text for n in conv_outs),
          f"kiln calibrate records the Conv outputs fuse-ops would remove ({len(conv_outs)} Convs)")

    base = int8_logits("t1", "--profile", os.path.join(work, "percentile.yaml"), "--threads", "1")
    for t in (2, 4):
        got = int8_logits(f"t{t}", "--profile", os.path.join(work, "percentile.yaml"),
                          "--threads", str(t))
        check(got is not None and base is not None and got.tobytes() == base.tobytes(),
              f"int8 at {t} threads bit-identical to 1 thread")
    # --data calibrates the graph being compiled, so the input must have the samples' batch
    one = os.path.join(calib, "000.npy")
    a = kiln_run("run", model, "--input", one, "--output-dir", os.path.join(work, "d1"),
                 "--quantize", "int8", "--data", calib)
    b = kiln_run("run", model, "--input", one, "--output-dir", os.path.join(work, "p1"),
                 "--quantize", "int8", "--profile", os.path.join(work, "percentile.yaml"))
    same = not a.returncode and not b.returncode and \
        np.load(os.path.join(work, "d1", "logits.npy")).tobytes() == \
        np.load(os.path.join(work, "p1", "logits.npy")).tobytes()
    check(same, "--data DIR gives the bits of --profile from the same samples and method")

    r = kiln_run("dump", model, "--shape", "image=1,1,8,8", "--quantize", "int8", "--profile",
                 os.path.join(work, "percentile.yaml"))
    ops = [l for l in r.stdout.splitlines() if " = " in l and "(" in l]
    check(r.returncode == 0 and sum("kiln.QConv(" in l for l in ops) == 2 and
          sum("kiln.QMatMul(" in l for l in ops) == 2 and
          not any(" Conv(" in l or " Gemm(" in l for l in ops) and
          "zero_points" in r.stdout, "the quantized graph is 2 QConv + 2 QMatMul, no float Conv/Gemm")

    # --quant-report: one row per quantized tensor, a sane SQNR, the output's agreement
    rep = os.path.join(work, "report.md")
    r = kiln_run("compile", model, "-o", os.path.join(work, "rep"), "--shape", "image=1,1,8,8",
                 "--quantize", "int8", "--data", calib, "--quant-report", rep)
    rows = [l.split("|") for l in open(rep).read().splitlines() if l.startswith("| `")] \
        if not r.returncode else []
    sq = [float(c[6]) for c in rows if len(c) > 7 and c[2].strip() in ("QConv", "QMatMul")]
    check(len(sq) == 4 and min(sq) > 25 and any("100 of 100 rows" in "|".join(c) for c in rows),
          f"--quant-report: SQNR of the 4 integer ops {sq} dB, all > 25, outputs agree")

    # --accuracy-budget: the library it builds meets the budget on the calibration samples
    def library(tag, *opts):
        d = os.path.join(work, tag)
        r = kiln_run("compile", model, "-o", d, "--name", "digits", "--shape", "image=1,1,8,8", *opts)
        exe = os.path.join(d, "harness")
        if r.returncode or subprocess.run(
                ["cc", "-O2", "-DKILN_MODEL=digits_model", "-I" + d, os.path.join(HERE, "harness.c"),
                 os.path.join(d, "libdigits.a"), "-lpthread", "-lm", "-o", exe]).returncode:
            return None, r.stderr
        outs = []
        for i in range(len(os.listdir(calib))):
            np.load(os.path.join(calib, "%03d.npy" % i)).tofile(os.path.join(d, "in.bin"))
            subprocess.run([exe, "1", "1", os.path.join(d, "in.bin"), os.path.join(d, "out.bin")], check=True)
            outs.append(np.fromfile(os.path.join(d, "out.bin"), np.float32))
        return np.array(outs), r.stderr

    f32, _ = library("budget_f32")
    for budget, want_kept in ((0.05, 0), (0.005, None)):
        got, err = library(f"budget_{budget}", "--quantize", "int8", "--data", calib,
                           "--accuracy-budget", str(budget))
        kept = err.count("kept in float")
        rel = np.abs(got - f32).max() / np.abs(f32).max() if got is not None and f32 is not None else 1
        ok = got is not None and rel <= budget and (kept == want_kept if want_kept is not None else 0 < kept < 4)
        check(ok, f"--accuracy-budget {budget}: {kept} nodes kept in float, error on the calibration "
              f"samples {rel:.4g} <= {budget}")

    # the compiled library agrees with kiln run
    lib = os.path.join(work, "lib")
    r = kiln_run("compile", model, "-o", lib, "--name", "digits", "--shape", "image=297,1,8,8",
                 "--quantize", "int8", "--profile", os.path.join(work, "percentile.yaml"))
    exe = os.path.join(lib, "harness")
    ok = not r.returncode and not subprocess.run(
        ["cc", "-O2", "-DKILN_MODEL=digits_model", "-I" + lib, os.path.join(HERE, "harness.c"),
         os.path.join(lib, "libdigits.a"), "-lpthread", "-lm", "-o", exe]).returncode
    if ok:
        inp, outp = os.path.join(lib, "in.bin"), os.path.join(lib, "out.bin")
        np.load(heldout).tofile(inp)
        ok = not subprocess.run([exe, "2", "1", inp, outp], capture_output=True).returncode
        ok = ok and base is not None and np.fromfile(outp, np.float32).tobytes() == base.tobytes()
    check(ok, "kiln compile --quantize int8: the linked library's output equals kiln run's")

    # ---- pre-quantized models --------------------------------------------------------
    qdq = os.path.join(work, "digits_qdq.onnx")
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "qdq_digits.py"), model,
                    os.path.join(work, "percentile.yaml"), qdq], check=True)
    got = None
    r = kiln_run("run", qdq, "--input", heldout, "--output-dir", os.path.join(work, "qdq"),
                 "--quantize", "int8")
    if not r.returncode:
        got = np.load(os.path.join(work, "qdq", "logits_qdq.npy"))
    check(got is not None and base is not None and got.tobytes() == base.tobytes(),
          "QDQ digits (same rules) through fold-qdq: bit-identical to quantize with the profile")
    r = kiln_run("dump", qdq, "--shape", "image=1,1,8,8", "--quantize", "int8")
    ops = [l for l in r.stdout.splitlines() if " = " in l and "(" in l]
    check(sum("kiln.Q" in l for l in ops) == 4 and not any(" = DequantizeLinear(" in l for l in ops[:-1]),
          "QDQ digits: 4 integer ops, no DequantizeLinear before the output's")
    r = kiln_run("run", qdq, "--input", heldout, "--output-dir", os.path.join(work, "qdqf"))
    ok = not r.returncode and got is not None
    if ok:
        f = np.load(os.path.join(work, "qdqf", "logits_qdq.npy"))
        step = 0.126  # the logits' quantization step (scale from the profile), plus rounding
        ok = np.abs(f - got).max() <= step and (f.argmax(1) == got.argmax(1)).mean() >= 0.99
    check(ok, "QDQ digits: ONNX float requantization and kiln's dyadic one differ by <= 1 step")

    rng = np.random.default_rng(0)
    for op in ("QLinearConv", "QLinearMatMul"):
        conv = op == "QLinearConv"
        wq = rng.integers(-127, 128, (8, 4, 3, 3) if conv else (16, 8)).astype(np.int8)
        inits = [numpy_helper.from_array(np.float32(0.02), "xs"), numpy_helper.from_array(np.uint8(128), "xz"),
                 numpy_helper.from_array(wq, "w"),
                 numpy_helper.from_array(rng.uniform(0.001, 0.01, 8).astype(np.float32), "ws"),
                 numpy_helper.from_array(np.zeros(8, np.int8), "wz"),
                 numpy_helper.from_array(np.float32(0.4 if conv else 0.1), "ys"),
                 numpy_helper.from_array(np.uint8(100), "yz")]
        ins = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"]
        if conv:
            inits.append(numpy_helper.from_array(rng.integers(-5000, 5000, 8).astype(np.int32), "b"))
            ins.append("b")
        shape = [2, 4, 9, 9] if conv else [2, 5, 16]
        g = helper.make_graph([helper.make_node(op, ins, ["y"], name="q", **({"pads": [1, 1, 1, 1]} if conv else {}))],
                              "ql", [helper.make_tensor_value_info("x", TensorProto.UINT8, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], inits)
        path = os.path.join(work, op + ".onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
        xin = os.path.join(work, op + "_x.npy")
        np.save(xin, rng.integers(0, 256, shape).astype(np.uint8))
        outs = []
        if not conv:  # kiln's float lowering lacks per-column scales: numpy is the reference
            x = np.load(xin).astype(np.float64) - 128
            ws = numpy_helper.to_array(inits[3])
            acc = x @ wq.astype(np.float64)
            ref = np.clip(np.rint(acc * (0.02 * ws.astype(np.float64) / 0.1)) + 100, 0, 255)
            outs.append(ref.astype(int))
        for extra in ([], ["--quantize", "int8"])[0 if conv else 1:]:
            o = os.path.join(work, op + ("_q" if extra else "_f"))
            r = kiln_run("run", path, "--input", xin, "--output-dir", o, *extra)
            outs.append(np.load(os.path.join(o, "y.npy")).astype(int) if not r.returncode else None)
        d = kiln_run("dump", path, "--quantize", "int8").stdout
        ok = outs[0] is not None and outs[1] is not None and "kiln.Q" in d
        diff = np.abs(outs[0] - outs[1]) if ok else None
        check(ok and diff.max() <= 1 and (diff == 0).mean() > 0.95,
              f"{op} mapped to kiln's op: within 1 of ONNX's float requantization "
              f"({(diff == 0).mean() if ok else 0:.4f} of the elements equal)")

    # ---- bad input -------------------------------------------------------------------
    def bad(what, args, *needles):
        r = kiln_run(*args)
        msg = r.stderr.strip()
        ok = r.returncode == 1 and all(n in msg for n in needles) and "kiln: error:" in msg
        check(ok, f"bad input, {what}: {msg.splitlines()[0] if msg else '(no message)'}")

    good = open(os.path.join(work, "percentile.yaml")).read()
    quant = ["--shape", "image=1,1,8,8", "--quantize", "int8", "--profile"]

    def profile(name, text):
        p = os.path.join(work, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    other = helper.make_model(helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc")], "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)]),
        opset_imports=[helper.make_opsetid("", 17)])
    other_path = os.path.join(work, "other.onnx")
    onnx.save(other, other_path)
    bad("profile of another model", ["dump", other_path, "--quantize", "int8", "--profile",
                                     os.path.join(work, "percentile.yaml")],
        "no range for tensor 'x'", "torch_jit")
    bad("profile version", ["dump", model, *quant, profile("v2.yaml", good.replace("version: 1", "version: 2"))],
        "line 2", "version 2")
    bad("profile bad value", ["dump", model, *quant,
                              profile("nan.yaml", good.replace("range: [0, 1]", "range: [0, x1]", 1))],
        "line 9", "finite number")
    bad("profile lo above hi", ["dump", model, *quant,
                                profile("lohi.yaml", good.replace("range: [0, 1]", "range: [3, 1]", 1))],
        "line 9", "lo 3 above hi 1")
    start = good.index("  - name: \"/features/features.3")
    cut = good[:good.index("\n", start) + 1]  # the entry's name line, then the end of the file
    bad("profile truncated in an entry", ["dump", model, *quant, profile("cut.yaml", cut)],
        f"line {good[:start].count(chr(10)) + 1}:", "no 'range'")
    bad("profile truncated in a string", ["dump", model, *quant, profile("cut1.yaml", cut[:-8])],
        f"line {good[:start].count(chr(10)) + 1},", "end of stream")
    cut2 = good[:good.index("range: [", 200) + 12]
    bad("profile truncated in a list", ["dump", model, *quant, profile("cut2.yaml", cut2)], "line")
    bad("not a profile", ["dump", model, *quant, profile("list.yaml", "- 1\n- 2\n")],
        "not a calibration profile")
    empty = os.path.join(work, "empty")
    os.makedirs(empty)
    bad("empty data folder", ["calibrate", model, "--data", empty, "-o", os.path.join(work, "e.yaml")],
        "holds no samples")
    wrong = os.path.join(work, "wrong_shape")
    os.makedirs(wrong)
    np.save(os.path.join(wrong, "000.npy"), np.zeros((1, 1, 8, 8), np.float32))
    np.save(os.path.join(wrong, "001.npy"), np.zeros((1, 1, 7, 8), np.float32))
    bad("sample of the wrong shape", ["calibrate", model, "--data", wrong, "-o", os.path.join(work, "e.yaml")],
        "001.npy", "f32[1,1,7,8]", "f32[1,1,8,8]")
    wrongt = os.path.join(work, "wrong_dtype")
    os.makedirs(wrongt)
    np.save(os.path.join(wrongt, "000.npy"), np.zeros((1, 1, 8, 8), np.float64))
    bad("sample of the wrong dtype", ["calibrate", model, "--data", wrongt, "-o", os.path.join(work, "e.yaml")],
        "000.npy", "f64[1,1,8,8]")
    two = helper.make_model(helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"]), helper.make_node("MatMul", ["c", "w"], ["y"])], "two",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in "ab"],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)]),
        opset_imports=[helper.make_opsetid("", 17)])
    two_path = os.path.join(work, "two.onnx")
    onnx.save(two, two_path)
    missing = os.path.join(work, "missing", "000")
    os.makedirs(missing)
    np.save(os.path.join(missing, "a.npy"), np.ones((1, 4), np.float32))
    bad("sample folder missing an input", ["calibrate", two_path, "--data", os.path.dirname(missing),
                                           "-o", os.path.join(work, "e.yaml")],
        "no file for input 'b'")
    np.save(os.path.join(missing, "input_1.npy"), np.ones((1, 4), np.float32))
    r = kiln_run("calibrate", two_path, "--data", os.path.dirname(missing), "-o", os.path.join(work, "two.yaml"))
    check(r.returncode == 0 and "name: \"c\"" in open(os.path.join(work, "two.yaml")).read(),
          "a sample folder with NAME.npy and input_K.npy files calibrates a two-input model")
    bad("unknown --keep-float node", ["dump", model, *quant, os.path.join(work, "percentile.yaml"),
                                      "--keep-float", "nope"], "no node named 'nope'")
    bad("--quantize without ranges", ["dump", model, "--quantize", "int8"], "--profile")

    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
