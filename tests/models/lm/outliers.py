#!/usr/bin/python3
"""Makes an outlier model from a trained test LM: the same function, but
its linear layers read a few large channels, as in large language models.

    outliers.py MODEL.onnx OUT.onnx [--shuffle SEED]

Small models trained here have no outlier channels (the inputs of their
linears peak under about 2.5x the median channel), so rotation has nothing
to remove.  Their residual streams do have a dominant direction, which
this script turns into channels (shared/DESIGN.md, "Testing rotation needs
outliers"):

1. fold every norm's scale g (and LayerNorm's shift b) into the linears
   reading it (W <- W diag(g), c <- c + W b), leaving the norms with
   scale 1 and shift 0;
2. rotate the residual stream into its principal basis, measured on the
   training text: x <- x U with U orthogonal, folded into the embeddings,
   every linear writing the stream (rows) and every linear reading it
   (columns).  RMSNorm commutes with any rotation; for LayerNorm, U also
   keeps the all-ones vector fixed (U = P F: P the principal axes of the
   mean-free stream with 1/sqrt(d) first, F the reflection taking e_0 to
   1/sqrt(d)), so means and variances are unchanged;
3. with --shuffle SEED, permute the stream's channels at random (a
   permutation is a rotation that keeps the all-ones vector, so either
   norm allows it).  The principal basis is sorted by variance, so the
   loud channels are adjacent (0, 1, 2, ...), and an N:M pruning group of
   consecutive channels holds several of them; shuffled, they are
   scattered as in LLMs (docs/sparsity.md measures both).

The output model has the trained model's architecture (the GPT head gains
the bias that receives the final LayerNorm's shift) and computes the same
logits to rounding; the script checks that in torch and prints the
largest logit difference and the max/median channel ratio of every
linear's input before and after.
"""
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm  # noqa: E402


def readers_of(model):
    """(norm, [linears reading it]) pairs."""
    pairs = []
    for b in model.blocks:
        first = [b.q, b.k, b.v]
        second = [b.gate, b.up] if model.kind == "llama" else [b.up]
        pairs += [(b.ln1, first), (b.ln2, second)]
    return pairs + [(model.ln, [model.head])]


def fold_norms(model):
    with torch.no_grad():
        for norm, lins in readers_of(model):
            g = norm.weight.clone()
            b = norm.bias.clone() if getattr(norm, "bias", None) is not None else None
            for lin in lins:
                if b is not None:
                    lin.bias += lin.weight @ b
                lin.weight *= g[None, :]
            norm.weight.fill_(1.0)
            if b is not None:
                norm.bias.zero_()


def principal_rotation(model, x, layer_norm):
    with torch.no_grad():
        xs = torch.cat([s.reshape(-1, lm.D) for s in model.stream(x)]).double()
    d = lm.D
    if layer_norm:
        xs = xs - xs.mean(dim=1, keepdim=True)
    cov = xs.T @ xs / len(xs)
    vals, vecs = torch.linalg.eigh(cov)
    vecs = vecs[:, torch.argsort(vals, descending=True)]
    if not layer_norm:
        return vecs
    u = torch.full((d, 1), 1 / np.sqrt(d), dtype=torch.float64)
    # principal axes of the mean-free stream, after the ones direction
    p, _ = torch.linalg.qr(torch.cat([u, vecs[:, :d - 1]], dim=1))
    p = p * torch.sign(p[0:1, :] @ torch.eye(d, dtype=torch.float64)[:, 0:1]).T.clamp(min=-1)
    if p[:, 0] @ u[:, 0] < 0:
        p[:, 0] = -p[:, 0]
    e0 = torch.zeros(d, 1, dtype=torch.float64)
    e0[0] = 1
    w = e0 - u
    w = w / w.norm()
    f = torch.eye(d, dtype=torch.float64) - 2 * w @ w.T
    return p @ f


def rotate_stream(model, rot):
    r = rot.float()
    with torch.no_grad():
        model.tok.weight.copy_(model.tok.weight @ r)
        if model.kind == "gpt":
            model.pos.weight.copy_(model.pos.weight @ r)
        for b in model.blocks:
            for writer in (b.o, b.down):
                writer.weight.copy_(r.T @ writer.weight)
                if writer.bias is not None:
                    writer.bias.copy_(r.T @ writer.bias)
        for _, lins in readers_of(model):
            for lin in lins:
                lin.weight.copy_(lin.weight @ r)


def linear_inputs(model, x):
    """Per linear: max over tokens of |input| per channel -> max/median ratio."""
    seen = {}
    hooks = [m.register_forward_hook(
        lambda mod, inp, out, name=name: seen.setdefault(name, []).append(inp[0].detach()))
        for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    ratios = {}
    for name, xs in seen.items():
        mag = torch.cat(xs).reshape(-1, xs[0].shape[-1]).abs().amax(dim=0)
        ratios[name] = (mag.max() / mag.median()).item()
    return ratios


def made(src, work, shuffle=None):
    """The outlier version of src (WORK/NAME_outlier.onnx, or with
    shuffle=SEED WORK/NAME_outlier_shuffled.onnx), made by this script
    unless it exists and is newer than src."""
    tail = "_outlier.onnx" if shuffle is None else "_outlier_shuffled.onnx"
    dst = os.path.join(work, os.path.basename(src).replace(".onnx", tail))
    if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
        os.makedirs(work, exist_ok=True)
        extra = [] if shuffle is None else ["--shuffle", str(shuffle)]
        subprocess.run(["/usr/bin/python3", os.path.abspath(__file__), src, dst, *extra],
                       check=True, capture_output=True)
    return dst


def main():
    args = sys.argv[1:]
    shuffle = None
    if len(args) == 4 and args[2] == "--shuffle":
        shuffle = int(args[3])
        args = args[:2]
    if len(args) != 2:
        raise SystemExit(__doc__)
    src, dst = args
    kind = "llama" if "llama" in os.path.basename(src) else "gpt"
    trained = lm.load_onnx_weights(lm.LM(kind), src).eval()
    model = lm.LM(kind, head_bias=kind == "gpt").eval()
    state = trained.state_dict()
    if kind == "gpt":
        state["head.bias"] = torch.zeros(lm.VOCAB)
    model.load_state_dict(state)
    train, held = lm.load_text()
    x = torch.from_numpy(lm.windows(train)[0][::8][:64])
    hx = torch.from_numpy(lm.windows(held)[0][:32])
    with torch.no_grad():
        want = model(hx)
    before = linear_inputs(model, hx)
    fold_norms(model)
    rotate_stream(model, principal_rotation(model, x, kind == "gpt"))
    if shuffle is not None:
        perm = np.random.default_rng(shuffle).permutation(lm.D)
        rotate_stream(model, torch.eye(lm.D, dtype=torch.float64)[:, torch.from_numpy(perm)])
    after = linear_inputs(model, hx)
    with torch.no_grad():
        got = model(hx)
    err = ((got - want).abs().max() / want.abs().max()).item()
    print(f"{kind}: outlier model logits differ by {err:.2e} (relative to the largest)")
    for name in before:
        print(f"  {name:14s} input max/median channel: {before[name]:6.2f} -> {after[name]:6.2f}")
    if err > 1e-4:
        raise SystemExit(f"outliers.py: the outlier model computes something else ({err:.2e})")
    lm.export(model, dst)


if __name__ == "__main__":
    main()
