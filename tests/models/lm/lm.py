"""The test language models of the rotation work: data and architectures.

Text: the licence texts every Debian system ships in
/usr/share/common-licenses (package base-files), character level.  Each
regular file (symlinks skipped) is split at 90% of its length: the heads
are the training text, the tails the held-out text for perplexity, so
every licence contributes to both and no held-out character was trained
on (the licences do share phrases, which makes the task easier; the
figures compare a model with its transformed selves, not with the world).

Vocabulary: the 128 ASCII codes; other bytes (a handful of UTF-8 quotes)
map to 127.

Two architectures, both pre-norm decoders of width D=128, 4 heads of 32,
2 blocks, context T=64, untied embedding and head:
  GPT:   LayerNorm, learned positions, biased linears, GELU MLP of 4D;
  Llama: RMSNorm written out as ops (x * rsqrt(mean(x^2) + eps) * g), rotary
         positions, no biases, SiLU-gated MLP of width 384 = 12 * 32 (so the
         online Hadamard of the down projection needs the 12-factor path).
"""
import math
import os

import numpy as np
import torch
import torch.nn as nn

LICENSES = "/usr/share/common-licenses"
VOCAB = 128
D, HEADS, LAYERS, T = 128, 4, 2, 64
LLAMA_HIDDEN = 384


def load_text():
    """(train ids, held-out ids) as uint8 arrays."""
    train, held = [], []
    for name in sorted(os.listdir(LICENSES)):
        path = os.path.join(LICENSES, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = np.frombuffer(f.read(), dtype=np.uint8).copy()
        data[data >= 128] = 127
        cut = int(len(data) * 0.9)
        train.append(data[:cut])
        held.append(data[cut:])
    return np.concatenate(train), np.concatenate(held)


def windows(ids, t=T):
    """Non-overlapping windows of t+1 ids (inputs and next-token targets)."""
    n = (len(ids) - 1) // t
    x = np.stack([ids[i * t:i * t + t] for i in range(n)]).astype(np.int64)
    y = np.stack([ids[i * t + 1:i * t + t + 1] for i in range(n)]).astype(np.int64)
    return x, y


class RMSNorm(nn.Module):
    """Written out as elementwise ops so the export shows its decomposed form."""

    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + self.eps) * self.weight


def rope_tables(t, dh):
    inv = 1.0 / (10000 ** (torch.arange(0, dh, 2).float() / dh))
    ang = torch.arange(t).float()[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos(), ang.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        llama = kind == "llama"
        self.ln1 = RMSNorm(D) if llama else nn.LayerNorm(D)
        self.ln2 = RMSNorm(D) if llama else nn.LayerNorm(D)
        self.q = nn.Linear(D, D, bias=not llama)
        self.k = nn.Linear(D, D, bias=not llama)
        self.v = nn.Linear(D, D, bias=not llama)
        self.o = nn.Linear(D, D, bias=not llama)
        if llama:
            self.gate = nn.Linear(D, LLAMA_HIDDEN, bias=False)
            self.up = nn.Linear(D, LLAMA_HIDDEN, bias=False)
            self.down = nn.Linear(LLAMA_HIDDEN, D, bias=False)
        else:
            self.up = nn.Linear(D, 4 * D)
            self.down = nn.Linear(4 * D, D)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))
        cos, sin = rope_tables(T, D // HEADS)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)

    def forward(self, x):
        b, t, d = x.shape
        dh = d // HEADS
        h = self.ln1(x)
        q = self.q(h).view(b, t, HEADS, dh).transpose(1, 2)
        k = self.k(h).view(b, t, HEADS, dh).transpose(1, 2)
        v = self.v(h).view(b, t, HEADS, dh).transpose(1, 2)
        if self.kind == "llama":
            q = q * self.cos[:t] + rotate_half(q) * self.sin[:t]
            k = k * self.cos[:t] + rotate_half(k) * self.sin[:t]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(dh))
        att = att.masked_fill(~self.mask[:t, :t], float("-inf"))
        y = (torch.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.o(y)
        h = self.ln2(x)
        if self.kind == "llama":
            m = nn.functional.silu(self.gate(h)) * self.up(h)
        else:
            m = nn.functional.gelu(self.up(h))
        return x + self.down(m)


class LM(nn.Module):
    def __init__(self, kind, head_bias=False):
        super().__init__()
        self.kind = kind
        self.tok = nn.Embedding(VOCAB, D)
        if kind == "gpt":
            self.pos = nn.Embedding(T, D)
        self.blocks = nn.ModuleList([Block(kind) for _ in range(LAYERS)])
        self.ln = RMSNorm(D) if kind == "llama" else nn.LayerNorm(D)
        # a bias only where outliers.py folds the final LayerNorm's shift into it
        self.head = nn.Linear(D, VOCAB, bias=head_bias)

    def stream(self, idx):
        """The residual stream after the embedding and after each block."""
        x = self.tok(idx)
        if self.kind == "gpt":
            x = x + self.pos(torch.arange(idx.shape[1]))[None]
        out = [x]
        for blk in self.blocks:
            x = blk(x)
            out.append(x)
        return out

    def forward(self, idx):
        return self.head(self.ln(self.stream(idx)[-1]))


def export(model, path):
    """ONNX opset 17, static shapes: input [1, T] int64 -> logits [1, T, VOCAB]."""
    model.eval()
    x = torch.zeros(1, T, dtype=torch.long)
    torch.onnx.export(model, (x,), path, opset_version=17, input_names=["tokens"],
                      output_names=["logits"], do_constant_folding=False)


def load_onnx_weights(model, path):
    """Loads the parameters an export of `model` holds as named initializers."""
    import onnx
    from onnx import numpy_helper
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    names = [k for k, _ in model.named_parameters()]
    missing = [k for k in names if k not in inits]
    if missing:
        raise SystemExit(f"{path}: no initializer for {missing[:4]}")
    model.load_state_dict({k: torch.from_numpy(inits[k].copy()) for k in names}, strict=False)
    return model
