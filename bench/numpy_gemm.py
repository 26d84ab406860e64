"""The machine's float32 GEMM yardstick: numpy's matmul (OpenBLAS here) on the same matrix shapes
a benchmark ran. Reads a JSON list of {"m","n","k","batch","count"} on stdin, prints per-shape
seconds (median of repeats) and the total for the listed counts."""
import json
import sys
import time

import numpy as np


def time_shape(m, n, k, batch, repeats=5):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, m, k), dtype=np.float32)
    b = rng.standard_normal((batch, k, n), dtype=np.float32)
    if batch == 1:
        a, b = a[0], b[0]
    np.matmul(a, b)  # warm-up: thread pool, page faults
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main():
    shapes = json.load(sys.stdin)
    out = []
    total = 0.0
    for s in shapes:
        sec = time_shape(s["m"], s["n"], s["k"], s.get("batch", 1))
        flops = 2.0 * s["m"] * s["n"] * s["k"] * s.get("batch", 1)
        out.append({**s, "seconds": sec, "gflops": flops / sec / 1e9})
        total += sec * s.get("count", 1)
    print(json.dumps({"numpy": np.__version__, "shapes": out, "total_seconds": total}))


if __name__ == "__main__":
    main()
