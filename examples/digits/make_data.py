#!/usr/bin/python3
"""Writes calibration and held-out data for the digits model (docs/quantization.md).

Uses the same split as train.py (seeded permutation: the first 1500 images
train, the remaining 297 are held out):

  OUTDIR/calib/NNN.npy   the first N training images, one [1,1,8,8] float32 file each
                         (a calibration data folder, as `kiln calibrate --data` reads)
  OUTDIR/heldout.npy     the 297 held-out images, [297,1,8,8] float32
  OUTDIR/labels.npy      their labels, int64

Usage: /usr/bin/python3 make_data.py OUTDIR [N]   (N defaults to 100)
"""
import os
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits


def main():
    outdir = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).numpy()
    train, test = perm[:1500], perm[1500:]
    os.makedirs(os.path.join(outdir, "calib"), exist_ok=True)
    for i in range(count):
        np.save(os.path.join(outdir, "calib", "%03d.npy" % i), x[train[i]][None])
    np.save(os.path.join(outdir, "heldout.npy"), x[test])
    np.save(os.path.join(outdir, "labels.npy"), digits.target[test].astype(np.int64))


if __name__ == "__main__":
    main()
