#!/usr/bin/python3
"""Exactness of --rotate hadamard on every transformer the tests have.

    rotate_check.py KILN LM_PROBE MODELDIR WORKDIR

For each model, `kiln run` computes the outputs without and with
`--rotate hadamard` on the same input; they must agree within 1e-4 of the
largest magnitude (max|rotated - plain| / max|plain|):
  - the GPT-style test models of tests/models/export.py (gpt, and
    gpt_dynamic with --shape), the rotated one also against torch;
  - the trained LMs tests/models/lm/lm_{gpt,llama}.onnx (train.py);
  - their outlier versions, made here by outliers.py.
Then, through `kiln compile` and lm/eval.c, the held-out perplexity of
each LM: rotated equal to plain, and each outlier model equal to its
trained model, within 1e-4 relative.  Last, lm_probe measures the largest
max/median channel ratio over the inputs of every linear layer: on the
outlier models rotation must bring it down.
Prints one line per check and "N passed, M failed".
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lm  # noqa: E402
import perplexity  # noqa: E402

TOL = 1e-4
PROBE_WINDOWS = 64


def main():
    kiln, probe, modeldir, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        print(("PASS " if ok else "FAIL ") + what, flush=True)
        passed += ok
        failed += not ok

    r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "..", "export.py"), modeldir,
                        "gpt", "gpt_dynamic"], capture_output=True, text=True)
    if r.returncode:
        check(False, f"export.py: {r.stderr.strip()[-400:]}")
    held_x, _ = lm.windows(lm.load_text()[1])
    window = os.path.join(work, "window.npy")
    np.save(window, held_x[:1])
    held_x[:PROBE_WINDOWS].astype(np.int64).tofile(os.path.join(work, "probe_tokens.bin"))

    lms = {}
    for kind in ("gpt", "llama"):
        src = os.path.join(HERE, f"lm_{kind}.onnx")
        if not os.path.exists(src):
            check(False, f"{src} is missing (tests/models/lm/train.py makes it)")
            continue
        lms[f"lm_{kind}"] = src
        dst = os.path.join(work, f"lm_{kind}_outlier.onnx")
        if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
            r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "outliers.py"), src, dst],
                               capture_output=True, text=True)
            if r.returncode:
                check(False, f"outliers.py {kind}: {r.stderr.strip()[-400:]}")
                continue
        lms[f"lm_{kind}_outlier"] = dst

    cases = [("gpt", os.path.join(modeldir, "gpt.onnx"), os.path.join(modeldir, "gpt.input.npy"), []),
             ("gpt_dynamic", os.path.join(modeldir, "gpt_dynamic.onnx"),
              os.path.join(modeldir, "gpt_dynamic.input.npy"), ["--shape", "input=1,16"])]
    cases += [(name, path, window, []) for name, path in lms.items()]
    for name, model, inp, extra in cases:
        outs = []
        for rot in ([], ["--rotate", "hadamard"]):
            out = os.path.join(work, name + ("_rot" if rot else ""))
            r = subprocess.run([kiln, "run", model, "--input", inp, "--output-dir", out, *extra, *rot],
                               capture_output=True, text=True)
            if r.returncode:
                check(False, f"{name}: kiln run {' '.join(rot)}: {r.stderr.strip()[-400:]}")
                break
            outs.append(np.load(os.path.join(out, os.listdir(out)[0])))
        if len(outs) != 2:
            continue
        err = np.abs(outs[1] - outs[0]).max() / np.abs(outs[0]).max()
        check(err <= TOL, f"{name}: rotated vs plain output, max error {err:.2e} of the largest")
        ref = os.path.join(modeldir, name + ".output.npy")
        if name.startswith("gpt") and os.path.exists(ref):
            want = np.load(ref)
            err = np.abs(outs[1] - want).max() / np.abs(want).max()
            check(err <= TOL, f"{name}: rotated vs torch, max error {err:.2e}")

    ppl = {}
    for name, model in lms.items():
        for rot in ([], ["--rotate", "hadamard"]):
            key = name + (" rotated" if rot else "")
            try:
                ppl[key], windows = perplexity.perplexity(kiln, model, rot,
                                                          work=os.path.join(work, "ppl_" + name))
                print(f"     {key}: held-out perplexity {ppl[key]:.4f} ({windows} windows)")
            except RuntimeError as e:
                check(False, f"{key}: {e}")
        if name in ppl and name + " rotated" in ppl:
            rel = abs(ppl[name + " rotated"] - ppl[name]) / ppl[name]
            check(rel <= TOL, f"{name}: perplexity rotated {ppl[name + ' rotated']:.4f} vs "
                              f"plain {ppl[name]:.4f} (relative {rel:.1e})")
    for kind in ("gpt", "llama"):
        a, b = f"lm_{kind}", f"lm_{kind}_outlier"
        if a in ppl and b in ppl:
            rel = abs(ppl[b] - ppl[a]) / ppl[a]
            check(rel <= TOL, f"{b}: perplexity {ppl[b]:.4f} vs trained {ppl[a]:.4f} (relative {rel:.1e})")

    for name, model in lms.items():
        ratios = []
        for rot in ([], ["--rotate", "hadamard"]):
            r = subprocess.run([probe, model, os.path.join(work, "probe_tokens.bin"),
                                str(PROBE_WINDOWS), *rot], capture_output=True, text=True)
            line = [l for l in r.stdout.splitlines() if l.startswith("summary")]
            if r.returncode or not line:
                check(False, f"{name}: lm_probe {' '.join(rot)}: {r.stderr.strip()[-400:]}")
                break
            f = line[0].split()
            ratios.append((float(f[4]), float(f[6])))
        if len(ratios) != 2:
            continue
        print(f"     {name}: linear inputs' max/median channel ratio, largest (median over "
              f"linears): {ratios[0][0]:.2f} ({ratios[0][1]:.2f}) -> rotated {ratios[1][0]:.2f} "
              f"({ratios[1][1]:.2f})")
        if name.endswith("_outlier"):
            check(ratios[1][0] < ratios[0][0],
                  f"{name}: rotation lowers the largest channel ratio ({ratios[0][0]:.2f} -> "
                  f"{ratios[1][0]:.2f})")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
