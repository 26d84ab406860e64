"""CPU emulation of the CUDA backend's opt-in fp8 GEMM (WAN_VIDEO_FP8_GEMM=1), to check the error
bound derived for it (cpp/tests/backend_parity/weight_checks.cpp) on random data at a production
shape. The weight is fp8-e4m3 with a per-tensor scale (ComfyUI's fp8-scaled files: amax / 448),
exact on both sides; the fast path also rounds the activations to e4m3 with s = amax / 448
(cuda/kernels/quant_fp8.cu); both products accumulate exactly (float64 here, float32 on the
device: far below the e4m3 error). Reported: ||y_fp8 - y|| / ||y|| with y = x (w * sw)^T, and the
activations' own relative L2 rounding error, against the bound u / sqrt(3), u = 2^-4.

    python3 bench/fp8/gemm_error.py [--m 4096] [--n 1536] [--k 1536] [--json PATH]
"""
import argparse
import json
import math
import platform
import subprocess
import time

import numpy as np

E4M3_MAX = 448.0
U = 2.0 ** -4  # e4m3: 3 stored mantissa bits, unit roundoff 2^-(3+1)


def e4m3(v):
    """Round to the nearest e4m3 value (ties to even), saturating at +-448 (__NV_SATFINITE)."""
    a = np.minimum(np.abs(v), E4M3_MAX)
    _, e = np.frexp(a)  # a = f * 2^e, f in [0.5, 1): the binade [2^(e-1), 2^e)
    e = np.maximum(e - 1, -6)  # below 2^-6: subnormals, spacing 2^-9
    q = np.ldexp(1.0, e - 3)  # 8 values per binade
    r = np.minimum(np.round(a / q) * q, E4M3_MAX)
    return np.copysign(r, v)


def scaled_e4m3(v):
    s = float(np.max(np.abs(v))) / E4M3_MAX
    return e4m3(v / s), s


def rel_l2(ref, got):
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def random_e4m3_bytes(rng, shape):
    """Random e4m3 values from random bytes, NaN excluded: the parity check's fp8 weights."""
    v = rng.integers(0, 256, shape)
    v = np.where((v & 0x7F) == 0x7F, v & 0xFE, v)
    exp, man = (v >> 3) & 0xF, (v & 7).astype(np.float64)
    f = np.where(exp == 0, np.ldexp(man, -9), np.ldexp(1.0 + man / 8.0, exp - 7))
    return np.where(v & 0x80, -f, f)


def run_case(name, x, w_raw, w_scale=None):
    if w_scale is None:
        wq, sw = scaled_e4m3(w_raw)  # the checkpoint's weight: e4m3 bytes and scale_weight
    else:
        wq, sw = w_raw, w_scale  # e4m3 values already, with a given scale
    w = wq * sw  # exactly what both paths multiply by
    xq, sx = scaled_e4m3(x)
    t0 = time.perf_counter()
    y = x @ w.T
    y8 = (xq @ wq.T) * (sx * sw)  # the device: sA * sB applied to the e4m3 x e4m3 accumulation
    secs = time.perf_counter() - t0
    # The derivation's expectation: an element in the binade [b, 2b) has a rounding error uniform in
    # [-u b, u b] (variance u^2 b^2 / 3), so E||dx||^2 / ||x||^2 = (u^2 / 3) sum b^2 / sum x^2.
    a = np.abs(x[x != 0]) / sx
    b = np.ldexp(1.0, np.maximum(np.frexp(a)[1] - 1, -6))
    return {
        "case": name,
        "gemm_rel_l2": rel_l2(y, y8),
        "activation_rel_l2": rel_l2(x, xq * sx),
        "predicted_rel_l2": U / math.sqrt(3.0) * math.sqrt(float(np.sum(b * b) / np.sum(a * a))),
        "subnormal_fraction": float(np.mean(a < 2.0 ** -6)),
        "seconds": round(secs, 2),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", type=int, default=4096)
    ap.add_argument("--n", type=int, default=1536)
    ap.add_argument("--k", type=int, default=1536)
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--json")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    M, N, K = args.m, args.n, args.k
    w_raw = rng.standard_normal((N, K)) * 0.02
    cases = [
        run_case("gaussian activations", rng.standard_normal((M, K)), w_raw),
        run_case("uniform [-1, 1] activations", rng.uniform(-1.0, 1.0, (M, K)), w_raw),
        # Outliers: amax far above the bulk, so s is large and more values fall into e4m3's
        # subnormals (absolute, not relative, rounding) -- where the bound stops holding.
        run_case("student-t (3 dof) activations: heavy tails", rng.standard_t(3, (M, K)), w_raw),
        # The parity check's data (weight_checks.cpp): uniform activations, random e4m3 bytes
        # (every exponent, subnormals included) with scale 0.037.
        run_case("uniform activations x random e4m3 bytes (the parity check's weights)",
                 rng.uniform(-1.0, 1.0, (M, K)), random_e4m3_bytes(rng, (N, K)), 0.037),
    ]
    bound = U / math.sqrt(3.0)
    for c in cases:
        c["within_bound"] = c["gemm_rel_l2"] <= bound
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    out = {
        "what": "CPU emulation of the opt-in fp8 GEMM: e4m3 activations (per-tensor amax/448) x e4m3 weight "
                "(per-tensor scale), exact accumulation, vs the exact dequantized weight times float activations",
        "shape": {"M": M, "N": N, "K": K},
        "bound": {"rel_l2": bound, "derivation": "u / sqrt(3), u = 2^-4 (e4m3 unit roundoff); expected "
                  "(u / sqrt(3)) sqrt(sum b^2 / sum x^2), b = each scaled activation's binade base (<= 1 x u / sqrt(3))"},
        "cases": cases,
        "machine": platform.processor() or platform.machine(),
        "numpy": np.__version__,
        "commit": commit,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
