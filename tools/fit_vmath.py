#!/usr/bin/python3
"""fit_vmath.py — the polynomial coefficients of compiler/codegen/vmath.c.

Each is a least-squares fit of the relative error on 600 Chebyshev nodes
of the interval (close to the minimax polynomial), in double precision
against mpmath at 30 digits.  Prints the coefficients (lowest degree
first) and the fit's largest relative error.  Run: tools/fit_vmath.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 30


def cheb(a, b, n=600):
    k = np.arange(n)
    return (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / n)


def fit_abs(name, var, f, deg):
    """The same with the absolute error (for a term that is subtracted
    from 1, whose rounding is what an ulp of the result measures)."""
    A = np.stack([var ** i for i in range(deg + 1)], 1)
    p, *_ = np.linalg.lstsq(A, f, rcond=None)
    err = np.abs(A @ p - f).max()
    print(f"{name}: degree {deg}, max absolute error {err:.2e}")
    print("  " + ", ".join(f"{c:.17g}" for c in p))


def fit(name, var, f, deg):
    A = np.stack([var ** i for i in range(deg + 1)], 1)
    p, *_ = np.linalg.lstsq(A / f[:, None], np.ones_like(f), rcond=None)
    err = np.abs(A @ p / f - 1).max()
    print(f"{name}: degree {deg}, max relative error {err:.2e}")
    print("  " + ", ".join(f"{c:.17g}" for c in p))


# exp(r), r in [-ln2/2, ln2/2]
r = cheb(-np.log(2) / 2, np.log(2) / 2)
fit("exp", r, np.array([float(mp.exp(v)) for v in r]), 6)
# erf(x) / x as a polynomial in t = x^2, x in [0, 1]
x = cheb(0, 1)
fit("erf small", x * x, np.array([float(mp.erf(v) / v) for v in x]), 6)
# erfc(x) as a polynomial in t = x - 2.5 (exact in float for x in [1, 4]),
# x in [1, 4]: no division and no exp, erf = 1 - that
x = cheb(1, 4)
fit_abs("erf large", x - 2.5, np.array([float(mp.erfc(v)) for v in x]), 15)
