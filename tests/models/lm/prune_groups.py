#!/usr/bin/python3
"""Magnitude and Wanda pruning of the test LMs in torch, with either
comparison group: why Wanda loses at 50% unstructured in kiln's table.

    prune_groups.py [--windows N] [--calib C]

kiln's prune pass ranks magnitude's scores across the whole layer and
Wanda's within each output's row (as Sun et al. 2023 do for LLMs), so its
50% unstructured row compares two scores *and* two comparison groups.
This script prunes the same layers as prune_perplexity.py (every linear
but the first and the head: --prune-keep-ends) to 50% with each score
(|w|, |w| x the L2 norm of its input channel over C training windows
spread over the text, as quant_ppl.calib_dir picks them) and each group
(layer, row), plus Wanda by row with its norms recomputed block by block
after the blocks before were pruned (the paper's code does that; kiln
measures every norm on the dense model), and prints held-out perplexity
over the first N windows (default: all 370) of lm_gpt, lm_llama and their
outlier versions (outliers.py).  Magnitude by layer and Wanda by row are
what kiln computes: those columns match prune_perplexity.py's to rounding,
an independent check of the pass.
"""
import argparse
import copy
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lm  # noqa: E402
import outliers  # noqa: E402


def model(kind, outlier):
    """The trained model, or its outlier version as outliers.py makes it."""
    trained = lm.load_onnx_weights(lm.LM(kind), os.path.join(HERE, f"lm_{kind}.onnx")).eval()
    if not outlier:
        return trained
    m = lm.LM(kind, head_bias=kind == "gpt").eval()
    state = trained.state_dict()
    if kind == "gpt":
        state["head.bias"] = torch.zeros(lm.VOCAB)
    m.load_state_dict(state)
    x = torch.from_numpy(lm.windows(lm.load_text()[0])[0][::8][:64])
    outliers.fold_norms(m)
    outliers.rotate_stream(m, outliers.principal_rotation(m, x, kind == "gpt"))
    return m


def input_norms(m, names, calib):
    """L2 norm of each input channel of each named linear over calib."""
    sq = {}
    mods = dict(m.named_modules())

    def hook(name):
        def add(mod, inp, out):
            x = inp[0].double().reshape(-1, inp[0].shape[-1])
            sq[name] = sq.get(name, 0) + (x * x).sum(0)
        return add

    hooks = [mods[n].register_forward_hook(hook(n)) for n in names]
    m(calib)
    for h in hooks:
        h.remove()
    return {n: v.sqrt() for n, v in sq.items()}


def prune(m, calib, score, group, sequential=False):
    """Zeroes half of every pruned linear's weights, lowest score first."""
    mods = dict(m.named_modules())
    names = [n for n, mod in mods.items() if isinstance(mod, torch.nn.Linear)][1:-1]
    norms = input_norms(m, names, calib) if score == "wanda" else None
    for b in range(lm.LAYERS):
        if sequential:
            norms = input_norms(m, names, calib)
        for n in (n for n in names if n.startswith(f"blocks.{b}.")):
            w = mods[n].weight  # [out, in]
            s = w.double().abs() * (norms[n][None, :] if norms is not None else 1)
            keep = torch.ones_like(w, dtype=torch.bool)
            if group == "layer":
                keep.view(-1)[torch.argsort(s.reshape(-1), stable=True)[:w.numel() // 2]] = False
            else:
                keep.scatter_(1, torch.argsort(s, dim=1, stable=True)[:, :w.shape[1] // 2], False)
            w.mul_(keep)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--windows", type=int)
    ap.add_argument("--calib", type=int, default=32)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    train, held = lm.load_text()
    xt, _ = lm.windows(train)
    calib = torch.from_numpy(xt[np.linspace(0, len(xt) - 1, a.calib).astype(int)])
    hx, hy = (torch.from_numpy(v[:a.windows]) for v in lm.windows(held))

    def perplexity(m):
        logp = m(hx).double().log_softmax(-1)
        return float(torch.exp(-logp.gather(-1, hy[..., None]).mean()))

    print(f"50% unstructured, {len(hx)} held-out windows, Wanda's norms on {a.calib} training "
          "windows, first and last pruned layers dense\n")
    print("| model | dense | magnitude by layer (kiln) | magnitude by row | wanda by layer | "
          "wanda by row (kiln) | wanda by row, sequential norms |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("gpt", "llama"):
        for outlier in (False, True):
            base = model(kind, outlier)
            row = [perplexity(base)]
            for score, group, seq in (("magnitude", "layer", False), ("magnitude", "row", False),
                                      ("wanda", "layer", False), ("wanda", "row", False),
                                      ("wanda", "row", True)):
                row.append(perplexity(prune(copy.deepcopy(base), calib, score, group, seq)))
            print(f"| lm_{kind}{' outlier' if outlier else ''} | " +
                  " | ".join(f"{p:.3f}" for p in row) + " |", flush=True)


if __name__ == "__main__":
    main()
