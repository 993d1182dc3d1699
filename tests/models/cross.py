#!/usr/bin/python3
"""Cross-compilation tests: libraries for aarch64 and riscv64, run under qemu.

For each small model (built here with onnx.helper and seeded numpy
weights, so no torch is needed; convnet_int8 is the convnet under
`--quantize int8`, the packed int8 kernels' generic path):
  1. `kiln compile` it for the host, link tests/models/harness.c with `cc`,
     run it: the reference outputs;
  2. for each cross ISA (targets/<isa>/target.yaml names its C cross
     compiler and its qemu): `kiln compile --target TRIPLE`, link the same
     harness with `CROSS-gcc -static ... -lpthread -lm`, run it under
     `qemu-ISA` with 1 and 3 threads;
  3. compare: max|cross - host| / max|host| <= 1e-5 for every output (the
     code is the same; only libm may round differently), integer outputs
     equal, and the 1- and 3-thread outputs bit-identical.
Also: the digits example (examples/digits/main.c + samples.bin) must print
the same predictions on every ISA as on the host; triple aliases
(arm64-linux-gnu, riscv64gc-unknown-linux-gnu) must give byte-identical
archives; riscv64 with `--cpu sifive-x280` (the V extension, 512-bit)
must run under qemu with vectors and agree with the host.  (Not
spacemit-x60: it has Zicond, whose czero instructions LLVM emits for
selects and which Debian 12's qemu 7.2 cannot execute.)

An ISA whose cross compiler or qemu is missing, or for which this kiln was
built without a runtime, is SKIPPED (counted as skipped, never passed).

Usage: cross.py SRCDIR KILN WORKDIR
Prints one line per check and ends with "N passed, M failed, K skipped".
"""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TOLERANCE = 1e-5
CROSS_ISAS = ["aarch64", "riscv64"]
# the ISA's canonical triple, and its aliases that must give the same archive
ALIASES = {"aarch64": "arm64-linux-gnu", "riscv64": "riscv64gc-unknown-linux-gnu"}
# CPUs with vector extensions, and the qemu CPU that runs their code
VECTOR_CPUS = {"riscv64": ("sifive-x280", ["-cpu", "rv64,v=true,vlen=512,vext_spec=v1.0"])}


# ---- models -------------------------------------------------------------------------
def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def save(graph, path, opset=17):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def mlp(rng, path):
    """Linear 64-128-64-10 with ReLU, Tanh, Softmax (PyTorch's Linear: Gemm transB)."""
    dims = [64, 128, 64, 10]
    inits, nodes, x = [], [], "input"
    for i in range(3):
        w = rng.standard_normal((dims[i + 1], dims[i])).astype(np.float32) / np.sqrt(dims[i])
        b = rng.standard_normal(dims[i + 1]).astype(np.float32) * 0.1
        inits += [const(f"w{i}", w), const(f"b{i}", b)]
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"h{i}"], transB=1))
        x = f"h{i}"
        if i < 2:
            nodes.append(helper.make_node("Relu" if i == 0 else "Tanh", [x], [f"a{i}"]))
            x = f"a{i}"
    nodes.append(helper.make_node("Softmax", [x], ["output"], axis=-1))
    g = helper.make_graph(nodes, "mlp",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [4, 64])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [4, 10])],
                          inits)
    save(g, path)
    return {"input": rng.standard_normal((4, 64)).astype(np.float32)}


def convnet(rng, path):
    """Conv+ReLU, MaxPool, Conv (channel blocks), depthwise Conv, 1x1 Conv,
    GlobalAveragePool, Gemm, Softmax: both conv shapes, parallel kernels."""
    inits, nodes = [], []

    def conv(x, y, cin, cout, k, group=1, stride=1, relu=True):
        w = rng.standard_normal((cout, cin // group, k, k)).astype(np.float32)
        w /= np.sqrt(cin // group * k * k)
        b = rng.standard_normal(cout).astype(np.float32) * 0.1
        inits.extend([const(y + ".w", w), const(y + ".b", b)])
        nodes.append(helper.make_node("Conv", [x, y + ".w", y + ".b"], [y + (".c" if relu else "")],
                                      kernel_shape=[k, k], pads=[k // 2] * 4, group=group,
                                      strides=[stride, stride]))
        if relu:
            nodes.append(helper.make_node("Relu", [y + ".c"], [y]))

    conv("input", "c1", 3, 16, 3)
    nodes.append(helper.make_node("MaxPool", ["c1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]))
    conv("p1", "c2", 16, 32, 3)
    conv("c2", "c3", 32, 32, 3, group=32, stride=2)
    conv("c3", "c4", 32, 8, 1, relu=False)
    nodes.append(helper.make_node("HardSwish", ["c4"], ["c4h"]))
    nodes.append(helper.make_node("GlobalAveragePool", ["c4h"], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    w = rng.standard_normal((10, 8)).astype(np.float32)
    inits += [const("fc.w", w), const("fc.b", np.zeros(10, np.float32))]
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["output"], axis=-1))
    g = helper.make_graph(nodes, "convnet",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3, 32, 32])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [2, 10]),
                           helper.make_tensor_value_info("c2", TensorProto.FLOAT, [2, 32, 16, 16])],
                          inits)
    save(g, path)
    return {"input": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)}


def mathmix(rng, path):
    """Elementwise ops that call libm (expf, logf, tanhf, erff, sinf, cosf,
    powf, expm1f, log1pf, roundevenf, tanh in double), casts through float16
    (riscv64: the runtime's half helpers), float64 and int32 (safe integer
    division), and a reduction."""
    n = []
    f = TensorProto.FLOAT
    n.append(helper.make_node("Abs", ["x"], ["ax"]))
    n.append(helper.make_node("Add", ["ax", "one"], ["ax1"]))
    for op in ["Exp", "Tanh", "Erf", "Sin", "Cos", "Sigmoid", "Softplus", "Elu", "Round", "Atan"]:
        n.append(helper.make_node(op, ["x"], [op.lower()]))
    n.append(helper.make_node("Log", ["ax1"], ["log"]))
    n.append(helper.make_node("Sqrt", ["ax"], ["sqrt"]))
    n.append(helper.make_node("Pow", ["ax1", "x"], ["pow"]))
    n.append(helper.make_node("Cast", ["x"], ["xd"], to=TensorProto.DOUBLE))
    n.append(helper.make_node("Tanh", ["xd"], ["td"]))
    n.append(helper.make_node("Cast", ["td"], ["tanhd"], to=f))
    names = ["exp", "tanh", "erf", "sin", "cos", "sigmoid", "softplus", "elu", "round", "atan",
             "log", "sqrt", "pow", "tanhd"]
    n.append(helper.make_node("Concat", names, ["f32"], axis=0))
    n.append(helper.make_node("ReduceSum", ["f32", "axes1"], ["rsum"], keepdims=0))
    n.append(helper.make_node("Cast", ["f32"], ["f16"], to=TensorProto.FLOAT16))
    n.append(helper.make_node("Cast", ["f16"], ["f16f"], to=f))
    n.append(helper.make_node("Add", ["f16f", "f16f"], ["f16x2"]))
    n.append(helper.make_node("Mul", ["x", "hundred"], ["x100"]))
    n.append(helper.make_node("Cast", ["x100"], ["xi"], to=TensorProto.INT32))
    n.append(helper.make_node("Div", ["xi", "seven"], ["i32"]))
    inits = [const("one", np.float32(1)), const("hundred", np.float32(100)),
             const("seven", np.int32(7)), const("axes1", np.array([1], np.int64))]
    rows = len(names)
    g = helper.make_graph(n, "mathmix", [helper.make_tensor_value_info("x", f, [3, 50])],
                          [helper.make_tensor_value_info("f32", f, [3 * rows, 50]),
                           helper.make_tensor_value_info("rsum", f, [3 * rows]),
                           helper.make_tensor_value_info("f16", TensorProto.FLOAT16, [3 * rows, 50]),
                           helper.make_tensor_value_info("f16x2", f, [3 * rows, 50]),
                           helper.make_tensor_value_info("i32", TensorProto.INT32, [3, 50])],
                          inits)
    save(g, path)
    return {"x": (rng.standard_normal((3, 50)) * 2).astype(np.float32)}


def convnet_int8(rng, path):
    """convnet under `--quantize int8` (calibrated on two samples written to
    calib/ beside it): kiln.QConv and kiln.QMatMul through the packed int8
    kernel, whose dot product is generic vector IR on these ISAs."""
    inputs = convnet(rng, path)
    calib = os.path.join(os.path.dirname(path), "calib")
    os.makedirs(calib, exist_ok=True)
    for i in range(2):
        np.save(os.path.join(calib, f"{i:03d}.npy"),
                rng.standard_normal((2, 3, 32, 32)).astype(np.float32))
    return inputs


MODELS = {"mlp": mlp, "convnet": convnet, "mathmix": mathmix, "convnet_int8": convnet_int8}


def model_flags(name, path):
    """Extra `kiln compile` options of a model (host and cross alike)."""
    if name.endswith("_int8"):
        return ["--quantize", "int8", "--data", os.path.join(os.path.dirname(path), "calib")]
    return []
NP_DTYPES = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16,
             TensorProto.INT32: np.int32, TensorProto.DOUBLE: np.float64}


# ---- tools -------------------------------------------------------------------------------
def target_info(src, isa):
    """cross_cc, qemu and packages from targets/ISA/target.yaml (flat keys)."""
    text = open(os.path.join(src, "targets", isa, "target.yaml")).read()
    get = lambda key: re.search(rf"^{key}:\s*(.+?)\s*(#.*)?$", text, re.M).group(1)
    return {"triple": get("triple"), "cc": get("cross_cc"), "qemu": get("qemu"),
            "packages": get("packages").strip("[]").replace(",", "")}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


class Checks:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def check(self, ok, what):
        print(("PASS " if ok else "FAIL ") + what, flush=True)
        self.passed += bool(ok)
        self.failed += not ok
        return ok

    def skip(self, what):
        print("SKIP " + what, flush=True)
        self.skipped += 1


def compile_model(kiln, onnx_path, out, name, extra=()):
    return run([kiln, "compile", onnx_path, "-o", out, "--name", name, *extra])


def outputs_of(onnx_path):
    m = onnx.load(onnx_path)
    return [(o.name, NP_DTYPES[o.type.tensor_type.elem_type],
             [d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output]


def run_harness(prefix, exe, ins, outs_spec, out, threads):
    dsts = [os.path.join(out, f"{o[0]}.{threads}.bin") for o in outs_spec]
    r = run(prefix + [exe, str(threads), "1", *ins, *dsts], timeout=600)
    if r.returncode:
        return None, r.stderr.strip()
    return [np.fromfile(d, dtype=o[1]).reshape(o[2]) for d, o in zip(dsts, outs_spec)], ""


def compare(got, want):
    """max|got - want| / max|want| for floats, count of differences for ints."""
    worst = 0.0
    for g, w in zip(got, want):
        if np.issubdtype(w.dtype, np.integer):
            if not np.array_equal(g, w):
                return float("inf")
            continue
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        worst = max(worst, float(np.abs(g64 - w64).max() / max(np.abs(w64).max(), 1e-30)))
    return worst


def main():
    src, kiln, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    c = Checks()
    harness = os.path.join(src, "tests", "models", "harness.c")
    rng = np.random.default_rng(1234)

    # host references
    models = {}
    for name, build in MODELS.items():
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name + ".onnx")
        inputs = build(rng, path)
        ins = []
        for k, v in inputs.items():
            ins.append(os.path.join(d, k + ".bin"))
            v.tofile(ins[-1])
        out = os.path.join(d, "host")
        r = compile_model(kiln, path, out, name, model_flags(name, path))
        if not c.check(r.returncode == 0, f"{name}: host compile {r.stderr.strip()}"):
            continue
        exe = os.path.join(out, "harness")
        r = run(["cc", "-O2", f"-DKILN_MODEL={name}_model", "-I" + out, harness,
                 os.path.join(out, f"lib{name}.a"), "-lpthread", "-lm", "-o", exe])
        if not c.check(r.returncode == 0, f"{name}: host link {r.stderr.strip()}"):
            continue
        spec = outputs_of(path)
        ref, err = run_harness([], exe, ins, spec, out, 1)
        if c.check(ref is not None, f"{name}: host run {err}"):
            models[name] = (path, ins, spec, ref)

    digits_src = os.path.join(src, "examples", "digits")
    host_digits = None
    dh = os.path.join(work, "digits", "host")
    r = compile_model(kiln, os.path.join(digits_src, "digits.onnx"), dh, "digits")
    if r.returncode == 0:
        r = run(["cc", "-O2", os.path.join(digits_src, "main.c"), "-I" + dh,
                 os.path.join(dh, "libdigits.a"), "-lpthread", "-lm", "-o", os.path.join(dh, "classify")])
    if r.returncode == 0:
        r = run([os.path.join(dh, "classify"), os.path.join(digits_src, "samples.bin")])
    if c.check(r.returncode == 0, f"digits: host build and run {r.stderr.strip()}"):
        host_digits = r.stdout

    for isa in CROSS_ISAS:
        t = target_info(src, isa)
        missing = [tool for tool in (t["cc"], t["qemu"]) if not shutil.which(tool)]
        if missing:
            c.skip(f"{isa}: {' and '.join(missing)} not installed (apt-get install {t['packages']})")
            continue
        probe = compile_model(kiln, os.path.join(digits_src, "digits.onnx"),
                              os.path.join(work, "probe", isa), "probe", ["--target", t["triple"]])
        if "no kiln runtime" in probe.stderr:
            c.skip(f"{isa}: this kiln was built without the {isa} runtime (install "
                   f"{t['packages']}, reconfigure and rebuild): {probe.stderr.strip()}")
            continue
        qemu = [t["qemu"]]

        for name, (path, ins, spec, ref) in models.items():
            out = os.path.join(work, name, isa)
            r = compile_model(kiln, path, out, name, ["--target", t["triple"]] + model_flags(name, path))
            if not c.check(r.returncode == 0, f"{name}/{isa}: kiln compile --target {t['triple']} "
                           f"{r.stderr.strip()}"):
                continue
            exe = os.path.join(out, "harness")
            r = run([t["cc"], "-O2", "-static", f"-DKILN_MODEL={name}_model", "-I" + out, harness,
                     os.path.join(out, f"lib{name}.a"), "-lpthread", "-lm", "-o", exe])
            if not c.check(r.returncode == 0, f"{name}/{isa}: link with {t['cc']} -static "
                           f"{r.stderr.strip()}"):
                continue
            got1, err = run_harness(qemu, exe, ins, spec, out, 1)
            got3, err3 = run_harness(qemu, exe, ins, spec, out, 3)
            if not c.check(got1 is not None and got3 is not None,
                           f"{name}/{isa}: runs under {t['qemu']} {err}{err3}"):
                continue
            e = compare(got1, ref)
            c.check(e <= TOLERANCE, f"{name}/{isa}: vs host max|diff|/max|host| = {e:.3g} "
                    f"(limit {TOLERANCE:g})")
            c.check(all(a.tobytes() == b.tobytes() for a, b in zip(got1, got3)),
                    f"{name}/{isa}: 1 and 3 threads bit-identical")

        # the same library, whatever spelling of the triple
        if "mlp" in models:
            a = os.path.join(work, "mlp", isa, "libmlp.a")
            alias = os.path.join(work, "alias", isa)
            r = compile_model(kiln, models["mlp"][0], alias, "mlp", ["--target", ALIASES[isa]])
            same = r.returncode == 0 and os.path.exists(a) and \
                open(a, "rb").read() == open(os.path.join(alias, "libmlp.a"), "rb").read()
            c.check(same, f"mlp/{isa}: --target {ALIASES[isa]} gives the same archive as "
                    f"{t['triple']} {r.stderr.strip()}")

        # vector CPUs
        if isa in VECTOR_CPUS and "convnet" in models:
            cpu, qcpu = VECTOR_CPUS[isa]
            path, ins, spec, ref = models["convnet"]
            out = os.path.join(work, "convnet", isa + "-" + cpu)
            r = compile_model(kiln, path, out, "convnet", ["--target", t["triple"], "--cpu", cpu])
            exe = os.path.join(out, "harness")
            if r.returncode == 0:
                r = run([t["cc"], "-O2", "-static", "-DKILN_MODEL=convnet_model", "-I" + out,
                         harness, os.path.join(out, "libconvnet.a"), "-lpthread", "-lm", "-o", exe])
            if c.check(r.returncode == 0, f"convnet/{isa}: --cpu {cpu} compiles and links "
                       f"{r.stderr.strip()}"):
                dis = run([t["cc"].replace("gcc", "objdump"), "-d", os.path.join(out, "libconvnet.a")])
                c.check(re.search(r"\bvsetvli\b", dis.stdout) is not None,
                        f"convnet/{isa}: --cpu {cpu} code uses vector instructions")
                got, err = run_harness(qemu + qcpu, exe, ins, spec, out, 2)
                e = compare(got, ref) if got is not None else float("inf")
                c.check(e <= TOLERANCE, f"convnet/{isa}: --cpu {cpu} under {t['qemu']} "
                        f"{' '.join(qcpu)}: vs host {e:.3g} {err}")

        # the digits example end to end
        if host_digits is not None:
            out = os.path.join(work, "digits", isa)
            r = compile_model(kiln, os.path.join(digits_src, "digits.onnx"), out, "digits",
                              ["--target", t["triple"]])
            if r.returncode == 0:
                r = run([t["cc"], "-O2", "-static", os.path.join(digits_src, "main.c"), "-I" + out,
                         os.path.join(out, "libdigits.a"), "-lpthread", "-lm", "-o",
                         os.path.join(out, "classify")])
            if r.returncode == 0:
                r = run(qemu + [os.path.join(out, "classify"), os.path.join(digits_src, "samples.bin")])
            c.check(r.returncode == 0 and r.stdout == host_digits,
                    f"digits/{isa}: main.c under {t['qemu']} prints the host's predictions "
                    f"{r.stderr.strip()}")

    print(f"{c.passed} passed, {c.failed} failed, {c.skipped} skipped")
    if c.failed:
        return 1
    return 77 if c.skipped and not c.passed else 0


if __name__ == "__main__":
    sys.exit(main())
