#!/usr/bin/env python3
"""test_kiln_py.py — python/kiln.py against `kiln run`, bit for bit.

Usage: test_kiln_py.py KILN SRCDIR WORKDIR   (ends with "N passed, M failed")
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

KILN, SRC, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
sys.path.insert(0, os.path.join(SRC, "python"))
import kiln  # noqa: E402

shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
os.chdir(WORK)
results = []


def case(name):
    def wrap(fn):
        try:
            fn()
            results.append((name, None))
        except Exception as e:  # noqa: BLE001 - report any failure of the case
            results.append((name, f"{type(e).__name__}: {e}"))
        return fn
    return wrap


# y = Relu(x @ W + b) [2,4]; e = Gather(emb, ids) * scale [3,4]; scale an input bound later
rng = np.random.default_rng(7)
W = rng.standard_normal((3, 4)).astype(np.float32)
b = rng.standard_normal(4).astype(np.float32)
emb = rng.standard_normal((5, 4)).astype(np.float32)
g = h.make_graph(
    [h.make_node("MatMul", ["x", "W"], ["xw"]), h.make_node("Add", ["xw", "b"], ["s"]),
     h.make_node("Relu", ["s"], ["y"]), h.make_node("Gather", ["emb", "ids"], ["ge"], axis=0),
     h.make_node("Mul", ["ge", "scale"], ["e"])],
    "pymodel",
    [h.make_tensor_value_info("x", T.FLOAT, ["batch", 3]), h.make_tensor_value_info("ids", T.INT64, [3]),
     h.make_tensor_value_info("scale", T.FLOAT, [])],
    [h.make_tensor_value_info("y", T.FLOAT, ["batch", 4]), h.make_tensor_value_info("e", T.FLOAT, [3, 4])],
    initializer=[nh.from_array(W, "W"), nh.from_array(b, "b"), nh.from_array(emb, "emb")])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), "py.onnx")
x = rng.standard_normal((2, 3)).astype(np.float32)
ids = np.array([4, 0, -1], np.int64)
scale = np.array(0.5, np.float32)
for n, a in (("x", x), ("ids", ids), ("scale", scale)):
    np.save(f"{n}.npy", a)

model = kiln.compile("py.onnx", shapes={"x": [2, 3]}, kiln=KILN, workdir="lib")


@case("compile: the descriptor's inputs, outputs and workspace")
def _():
    assert [(n, str(d), s) for n, d, s in model.inputs] == [
        ("x", "float32", (2, 3)), ("ids", "int64", (3,)), ("scale", "float32", ())], model.inputs
    assert [(n, s) for n, _, s in model.outputs] == [("y", (2, 4)), ("e", (3, 4))], model.outputs


@case("run matches kiln run bit for bit (positional and by name)")
def _():
    y, e = model.run(x, ids, scale)
    p = subprocess.run([KILN, "run", "py.onnx", "--input", "x.npy", "--input", "ids.npy",
                        "--input", "scale.npy", "-o", "ref"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert np.array_equal(y, np.load("ref/y.npy")) and np.array_equal(e, np.load("ref/e.npy"))
    assert np.allclose(y, np.maximum(x @ W + b, 0), atol=1e-5)
    assert np.allclose(e, emb[ids] * 0.5)
    named = model.run({"x": x, "ids": ids, "scale": scale})
    assert set(named) == {"y", "e"} and np.array_equal(named["y"], y)
    assert np.array_equal(model.run(x=x, ids=ids, scale=scale)["e"], e)


@case("results survive the next run; threads give the same bits")
def _():
    y1, _ = model.run(x, ids, scale)
    model.run(x * 2, ids, scale)
    assert np.array_equal(y1, np.load("ref/y.npy")), "the second run changed the first's result"
    m4 = kiln.Model(os.path.join("lib", "libmodel.so"), "model", threads=4)
    assert np.array_equal(m4.run(x, ids, scale)[0], y1)


@case("errors: shape, dtype, unknown name, index out of range (status 10)")
def _():
    for args, kw, want in (((x[:1], ids, scale), {}, "shape"), ((x, ids.astype(np.float32), scale), {}, "int64"),
                           ((), {"x": x, "idz": ids, "scale": scale}, "no input named 'idz'")):
        try:
            model.run(*args, **kw)
            raise AssertionError(f"no error for {want}")
        except kiln.KilnError as err:
            assert want in str(err), err
    try:
        model.run(x, np.array([0, 5, 1], np.int64), scale)
        raise AssertionError("out-of-range index accepted")
    except kiln.KilnError as err:
        assert "status 10" in str(err), err


@case("compile with binds; compile errors are KilnError with kiln's message")
def _():
    m = kiln.compile("py.onnx", shapes={"x": [2, 3]}, binds={"scale": 2.0}, kiln=KILN, workdir="lib2")
    assert [n for n, _, _ in m.inputs] == ["x", "ids"]
    assert np.allclose(m.run(x, ids)[1], emb[ids] * 2)
    try:
        kiln.compile("py.onnx", kiln=KILN, workdir="lib3")
        raise AssertionError("symbolic dims accepted")
    except kiln.KilnError as err:
        assert "--shape x=" in str(err), err


failed = [r for r in results if r[1]]
for name, why in results:
    print(("FAIL " if why else "ok   ") + name + (f"\n    {why}" if why else ""))
print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
