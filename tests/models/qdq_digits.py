#!/usr/bin/python3
"""Builds the QDQ form of the digits model with kiln's quantization rules.

Given the float model and a kiln calibration profile, writes the ONNX QDQ
model that ONNX Runtime's quantize_static would produce with the same
choices: uint8 activations (scale = (hi - lo) / 255, zero point
round(-lo / scale)), int8 weights per output channel (scale = max|w| / 127,
zero point 0), float biases, and every Conv/Gemm wrapped in
DequantizeLinear / QuantizeLinear, a Relu kept between the op and its Q.
The rules are those of compiler/ir/qmath.h, so `kiln --quantize int8` on this
model (fold-qdq) must give the same bits as on the float model with the
profile (quantize).

Usage: qdq_digits.py FLOAT.onnx PROFILE.yaml OUT.onnx
"""
import sys

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper


def act_params(lo, hi):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    s = np.float32((hi - lo) / 255.0)
    if not s > 1e-30:
        s = np.float32(1)
    z = int(np.clip(np.rint(-lo / np.float64(s)), 0, 255))
    return s, z


def main():
    src, prof_path, out = sys.argv[1:4]
    m = onnx.load(src)
    prof = yaml.safe_load(open(prof_path))
    ranges = {t["name"]: t["range"] for t in prof["tensors"]}
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    g = m.graph
    nodes, extra = [], []

    def const(name, arr):
        extra.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def qdq(x, rng_name):
        s, z = act_params(*ranges[rng_name])
        const(x + "_s", np.float32(s))
        const(x + "_z", np.uint8(z))
        nodes.append(helper.make_node("QuantizeLinear", [x, x + "_s", x + "_z"], [x + "_q"]))
        nodes.append(helper.make_node("DequantizeLinear", [x + "_q", x + "_s", x + "_z"], [x + "_dq"]))
        return x + "_dq"

    producer = {o: n for n in g.node for o in n.output}

    def range_source(x):
        # kiln carries a range through data movers (MaxPool, Flatten) unchanged
        while x in producer and producer[x].op_type in ("MaxPool", "Flatten"):
            x = producer[x].input[0]
        return x

    rename = {}
    for n in g.node:
        ins = [rename.get(i, i) for i in n.input]
        if n.op_type in ("Conv", "Gemm"):
            w = inits[n.input[1]].astype(np.float64)
            flat = w.reshape(w.shape[0], -1)
            amax = np.abs(flat).max(axis=1)
            s = np.where(amax > 0, (amax / 127.0), 1.0).astype(np.float32)
            q = np.clip(np.rint(flat / s.astype(np.float64)[:, None]), -127, 127).astype(np.int8)
            wname = n.input[1] + "_q"
            const(wname, q.reshape(w.shape))
            const(wname + "_s", s)
            const(wname + "_z", np.zeros(len(s), np.int8))
            nodes.append(helper.make_node("DequantizeLinear", [wname, wname + "_s", wname + "_z"],
                                          [wname + "_dq"], axis=0))
            if not ins[0].endswith("_dq"):
                ins[0] = qdq(ins[0], range_source(n.input[0]))
            ins[1] = wname + "_dq"
        nodes.append(helper.make_node(n.op_type, ins, list(n.output), name=n.name,
                                      **{a.name: helper.get_attribute_value(a) for a in n.attribute}))
        # the output of a Relu (or of a Conv/Gemm without one) is requantized
        y = n.output[0]
        readers = [r for r in g.node if y in r.input]
        if n.op_type == "Relu" or (n.op_type in ("Conv", "Gemm") and
                                   not any(r.op_type == "Relu" for r in readers)):
            rename[y] = qdq(y, y)
        elif n.op_type in ("MaxPool", "Flatten") and ins[0].endswith("_dq"):
            rename[y] = qdq(y, range_source(y))  # DQ -> mover -> Q, as quantization tools write it
    outs = [rename.get(o.name, o.name) for o in g.output]
    nodes.append(helper.make_node("Identity", [outs[0]], ["logits_qdq"]))
    graph = helper.make_graph(nodes, "digits_qdq", list(g.input),
                              [helper.make_tensor_value_info("logits_qdq", TensorProto.FLOAT,
                                                             [d.dim_param or d.dim_value for d in
                                                              g.output[0].type.tensor_type.shape.dim])],
                              list(g.initializer) + extra)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    main()
