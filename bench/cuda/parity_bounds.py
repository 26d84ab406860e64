#!/usr/bin/env python3
"""The expected errors behind the parity bounds (cpp/tests/backend_parity/harness.h) and the bf16
conformance tolerances (lib/conformance/tolerances.ts), measured in float64 numpy on the inputs the
parity checks use: uniform operands, weights of scale 3/sqrt(K) (unit-size outputs).

    python3 bench/cuda/parity_bounds.py [--rows 256]

Prints, per case, the relative L2 error of the bf16 computation (operands rounded to nearest-even
bf16, accumulation exact) against the exact one. No GPU, no PyTorch.
"""
import argparse

import numpy as np


def bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 to bf16 (nearest, ties to even), returned as float32."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def gelu_tanh(y):
    return 0.5 * y * (1 + np.tanh(np.sqrt(2 / np.pi) * (y + 0.044715 * y ** 3)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=256, help="rows per product (the error does not depend on it)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    x = rng.uniform(-1, 1, 1 << 22).astype(np.float32)
    print(f"bf16 rounding of one operand, relative rms: {rel(bf16(x).astype(np.float64), x.astype(np.float64)):.2e}"
          f"  (unit roundoff 2^-8 = {2**-8:.2e}, 2^-9 = {2**-9:.2e})")

    for K, N in ((1536, 1536), (1536, 8960), (8960, 1536)):
        xs = rng.uniform(-1, 1, (args.rows, K)).astype(np.float32)
        w = rng.uniform(-1, 1, (N, K)).astype(np.float32) * np.float32(3 / np.sqrt(K))
        b = rng.uniform(-1, 1, N).astype(np.float32)
        exact = xs.astype(np.float64) @ w.astype(np.float64).T
        low = bf16(xs).astype(np.float64) @ bf16(w).astype(np.float64).T
        print(f"linear K={K:5d} N={N:5d}: no bias {rel(low, exact):.2e}, bias {rel(low + b, exact + b):.2e}, "
              f"gelu_tanh epilogue {rel(gelu_tanh(low + b), gelu_tanh(exact + b)):.2e}")
    # The GELU's L2-weighted condition number at unit-size outputs.
    y = rng.normal(0, 1, 1 << 20)
    d = 1e-6
    grad = (gelu_tanh(y + d) - gelu_tanh(y - d)) / (2 * d)
    print(f"gelu_tanh condition number (L2-weighted, y ~ N(0,1)): "
          f"{np.sqrt(np.mean((grad * y) ** 2) / np.mean(gelu_tanh(y) ** 2)):.2f}")

    # Attention: q, k in [-2, 2], v in [-1, 1], head dim 128, scale 1/sqrt(128); q, k, v and P in bf16.
    D = 128
    for S in (512, 32760):
        q = rng.uniform(-2, 2, (64, D)).astype(np.float32)
        k = rng.uniform(-2, 2, (S, D)).astype(np.float32)
        v = rng.uniform(-1, 1, (S, D)).astype(np.float32)

        def attn(q, k, v, round_p):
            s = (q.astype(np.float64) @ k.astype(np.float64).T) / np.sqrt(D)
            p = np.exp(s - s.max(axis=1, keepdims=True))
            l = p.sum(axis=1, keepdims=True)
            if round_p:
                p = bf16(p.astype(np.float32)).astype(np.float64)
            return (p @ v.astype(np.float64)) / l

        exact = attn(q, k, v, False)
        low = attn(bf16(q), bf16(k), bf16(v), True)
        print(f"attention Sk={S:5d} d128: {rel(low, exact):.2e}")


if __name__ == "__main__":
    main()
