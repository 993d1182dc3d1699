#!/usr/bin/python3
"""Measures int8 accuracy of the digits CNN per calibration method (docs/quantization.md).

For each method: `kiln calibrate` on the first N training images, `kiln run
--quantize int8 --profile` on the 297 held-out images, and a comparison with
the fp32 run: top-1 agreement, accuracy against the labels, mean and max
|logit difference|.  Prints two markdown tables: the accuracy per method and
the range each method chose per tensor.

Usage: /usr/bin/python3 quant_accuracy.py KILN WORKDIR [N]   (N defaults to 100)
"""
import os
import subprocess
import sys

import numpy as np
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import heldout as heldout_data  # noqa: E402
METHODS = ["minmax", "percentile", "entropy", "mse"]


def main():
    kiln, work = sys.argv[1:3]
    count = sys.argv[3] if len(sys.argv) > 3 else "100"
    model, heldout, labels = heldout_data.prepare(work, count)

    def run(out, *opts):
        subprocess.run([kiln, "run", model, "--input", heldout, "--output-dir", out, *opts], check=True)
        return np.load(os.path.join(out, "logits.npy"))

    ref = run(os.path.join(work, "fp32"))
    print("| method | top-1 agreement with fp32 | int8 accuracy (fp32: %.4f) | mean abs logit error | max |"
          % (ref.argmax(1) == labels).mean())
    print("|---|---|---|---|---|")
    ranges = {}
    for method in METHODS:
        prof = os.path.join(work, method + ".yaml")
        subprocess.run([kiln, "calibrate", model, "--data", os.path.join(work, "calib"), "-o", prof,
                        "--method", method], check=True)
        got = run(os.path.join(work, method), "--quantize", "int8", "--profile", prof)
        print(f"| {method} | {(got.argmax(1) == ref.argmax(1)).mean():.4f} | "
              f"{(got.argmax(1) == labels).mean():.4f} | {np.abs(got - ref).mean():.4f} | "
              f"{np.abs(got - ref).max():.4f} |")
        for t in yaml.safe_load(open(prof))["tensors"]:
            ranges.setdefault(t["name"], {})[method] = t["range"]
    print()
    print("| tensor | " + " | ".join(METHODS) + " |")
    print("|---|" + "---|" * len(METHODS))
    for name, r in ranges.items():
        print(f"| `{name}` | " + " | ".join("[%.3g, %.3g]" % tuple(r[m]) for m in METHODS) + " |")


if __name__ == "__main__":
    main()
