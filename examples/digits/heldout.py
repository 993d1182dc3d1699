"""heldout.py — what quant_accuracy.py and prune_accuracy.py share: the
digits CNN with a symbolic batch (so the held-out set runs as one batch)
and its data (make_data.py) in a work folder."""
import os
import subprocess

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))


def prepare(work, count):
    """Writes WORK/digits.onnx (batch N) and the data of `count` samples;
    returns (model path, held-out inputs path, labels)."""
    os.makedirs(work, exist_ok=True)
    m = onnx.load(os.path.join(HERE, "digits.onnx"))
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    del m.graph.value_info[:]
    model = os.path.join(work, "digits.onnx")
    onnx.save(m, model)
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_data.py"), work, str(count)], check=True)
    return model, os.path.join(work, "heldout.npy"), np.load(os.path.join(work, "labels.npy"))
