#!/usr/bin/env python3
"""PyTorch reference timings for the attention benchmark.

For each --shape B,H,Sq,Sk,D prints one JSON line with the TFLOP/s of
torch.nn.functional.scaled_dot_product_attention under the FLASH_ATTENTION, CUDNN_ATTENTION and
EFFICIENT_ATTENTION backends (bf16, non-causal, no mask), on inputs laid out as ours: [B, S, H, D] viewed as
[B, H, S, D]. A backend that refuses the shape reports null and the reason. With --gemm it also
prints the measured bf16 GEMM ceiling of the device (torch.matmul, 8192^3).
TFLOP/s = 4*B*H*Sq*Sk*D / time.
"""
import argparse
import json
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def time_ms(fn, min_ms):
    fn()  # warm-up (and cuDNN plan build)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    one = max(start.elapsed_time(end), 1e-3)
    iters = max(3, min(50, int(min_ms / one)))
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / iters, iters


def bench_shape(b, h, sq, sk, d, min_ms):
    gen = torch.Generator(device="cuda").manual_seed(0)

    def rand(s):
        x = torch.rand((b, s, h, d), device="cuda", generator=gen, dtype=torch.float32) * 2 - 1
        return x.to(torch.bfloat16).transpose(1, 2)  # [B, H, S, D], same memory as ours

    q, k, v = rand(sq), rand(sk), rand(sk)
    flops = 4.0 * b * h * sq * sk * d
    row = {"batch": b, "heads": h, "seq_q": sq, "seq_k": sk, "head_dim": d}
    for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION),
                          ("efficient", SDPBackend.EFFICIENT_ATTENTION)):
        try:
            with sdpa_kernel([backend]):
                ms, iters = time_ms(lambda: F.scaled_dot_product_attention(q, k, v), min_ms)
            row[name + "_ms"] = round(ms, 4)
            row[name + "_tflops"] = round(flops / (ms * 1e-3) / 1e12, 2)
        except RuntimeError as e:  # backend not available for this shape / device / build
            row[name + "_tflops"] = None
            row[name + "_error"] = str(e).splitlines()[0][:200]
    del q, k, v
    torch.cuda.empty_cache()
    return row


def bench_gemm(min_ms, n=8192):
    a = torch.randn((n, n), device="cuda", dtype=torch.bfloat16)
    b = torch.randn((n, n), device="cuda", dtype=torch.bfloat16)
    ms, _ = time_ms(lambda: torch.matmul(a, b), min_ms)
    return {"gemm_bf16_n": n, "gemm_bf16_tflops": round(2.0 * n * n * n / (ms * 1e-3) / 1e12, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", action="append", default=[], help="B,H,Sq,Sk,D")
    ap.add_argument("--min-ms", type=float, default=1000)
    ap.add_argument("--gemm", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("sdpa_ref.py: no CUDA device visible to PyTorch", file=sys.stderr)
        return 1
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                      "cudnn": torch.backends.cudnn.version()}), flush=True)
    if args.gemm:
        print(json.dumps(bench_gemm(args.min_ms)), flush=True)
    for spec in args.shape or ["1,12,32760,32760,128"]:
        b, h, sq, sk, d = (int(x) for x in spec.split(","))
        print(json.dumps(bench_shape(b, h, sq, sk, d, args.min_ms)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
