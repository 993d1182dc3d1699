#!/usr/bin/python3
"""Trains the two test language models of lm.py and exports them to ONNX.

    train.py OUTDIR [gpt|llama ...] [--steps N]

Writes OUTDIR/lm_gpt.onnx and OUTDIR/lm_llama.onnx (opset 17, input
`tokens` int64 [1, 64], output `logits` f32 [1, 64, 128]).  Seeded and
single-threaded, so a rerun on the same torch gives the same weights; the
committed files (tests/models/lm/*.onnx) came from this script with the
default step count, and print their held-out loss here.
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm  # noqa: E402


def held_out_loss(model, x, y):
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
        return torch.nn.functional.cross_entropy(logits.reshape(-1, lm.VOCAB),
                                                 torch.from_numpy(y).reshape(-1)).item()


def train(kind, steps, batch=16):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    tr, held = lm.load_text()
    hx, hy = lm.windows(held)
    model = lm.LM(kind)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps,
                                                pct_start=0.1)
    start = time.time()
    for step in range(steps):
        model.train()
        at = rng.integers(0, len(tr) - lm.T - 1, size=batch)
        x = torch.from_numpy(np.stack([tr[a:a + lm.T] for a in at]).astype(np.int64))
        y = torch.from_numpy(np.stack([tr[a + 1:a + lm.T + 1] for a in at]).astype(np.int64))
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, lm.VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"{kind} step {step}: train loss {loss.item():.3f} "
                  f"({time.time() - start:.0f} s)", flush=True)
    loss = held_out_loss(model, hx, hy)
    print(f"{kind}: held-out loss {loss:.4f} nats/char, perplexity {np.exp(loss):.3f}")
    return model


def main():
    args = sys.argv[1:]
    steps = 600
    if "--steps" in args:
        i = args.index("--steps")
        steps = int(args[i + 1])
        del args[i:i + 2]
    if not args:
        raise SystemExit(__doc__)
    out = args[0]
    os.makedirs(out, exist_ok=True)
    for kind in args[1:] or ["gpt", "llama"]:
        model = train(kind, steps)
        lm.export(model, os.path.join(out, f"lm_{kind}.onnx"))


if __name__ == "__main__":
    main()
