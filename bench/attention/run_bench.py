#!/usr/bin/env python3
"""One benchmark run on the device: our kernels (the dispatch's choice, the portable one, the opt-in
e4m3 path) and PyTorch SDPA (flash, cuDNN, efficient) at the same shapes, merged into
bench/results/<date>-<device>-attention.json with an `attention` list of
{"shape", "ours_tflops", "sdpa_best_tflops", "fp8_tflops", ...} and the issue's targets checked
("targets"). See README.md in this folder.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# (name, B, H, Sq, Sk, D): Wan2.1 1.3B at 480p/81 frames (32,760 tokens, 12 heads), Wan 14B at
# 720p/81 frames (75,600 tokens, 40 heads), and their cross-attention to the 512 text tokens.
SHAPES = [
    ("self b1 h12 s32760 d128", 1, 12, 32760, 32760, 128),
    ("self b2 h12 s32760 d128", 2, 12, 32760, 32760, 128),
    ("self b1 h40 s75600 d128", 1, 40, 75600, 75600, 128),
    ("cross b1 h12 q32760 k512 d128", 1, 12, 32760, 512, 128),
    ("cross b2 h12 q32760 k512 d128", 2, 12, 32760, 512, 128),
    ("cross b1 h40 q75600 k512 d128", 1, 40, 75600, 512, 128),
]

# The subset the device check (bench/cuda/device-check.sh) times within its budget.
DEVICE_CHECK_SHAPES = ["self b1 h12 s32760 d128", "cross b1 h12 q32760 k512 d128", "self b1 h40 s75600 d128"]

# head-128 tile configurations bench_flash_attention --variant knows: the portable kernel's
# (kVariants there) and the Hopper kernel's (hopper::variants(); they apply on sm_90a builds only)
VARIANTS = ["m128n64s2", "m128n64s3", "m128n128s2", "m128n32s4", "m64n64s2",
            "bf16-d128-n128-s2-pp", "bf16-d128-n128-s2", "bf16-d128-n128-s3-pp", "bf16-d128-n176-s2-pp",
            "e4m3-d128-n128-s2-pp", "e4m3-d128-n128-s3-pp", "e4m3-d128-n128-s4"]

# Issue 15's attention targets, at the first shape (S = 32,760, D = 128).
TARGET_TFLOPS = 650
TARGET_RATIO_SDPA = 1.1
TARGET_FP8_OVER_BF16 = 1.6


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def run(cmd):
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(res.stderr)
    if res.returncode != 0:
        sys.exit(f"{cmd[0]} failed with status {res.returncode}")
    return res.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "build", "bench_flash_attention"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--min-ms", type=float, default=1000)
    ap.add_argument("--out", default=None, help="results file (default bench/results/<date>-<device>-attention.json)")
    ap.add_argument("--skip-sdpa", action="store_true", help="only our kernel (no PyTorch on the machine)")
    ap.add_argument("--device-check", action="store_true", help="only the shapes the device check times")
    ap.add_argument("--sweep", action="store_true",
                    help="also time each head-128 tile variant at the first self- and cross-attention shape")
    args = ap.parse_args()
    global SHAPES
    if args.device_check:
        SHAPES = [s for s in SHAPES if s[0] in DEVICE_CHECK_SHAPES]

    shape_args = []
    for _, b, h, sq, sk, d in SHAPES:
        shape_args += ["--shape", f"{b},{h},{sq},{sk},{d}"]
    mins = ["--min-ms", str(args.min_ms)]

    ours_bf16 = json_lines(run([args.bin, *shape_args, "--out", "bf16", *mins]))
    ours_f32 = json_lines(run([args.bin, *shape_args, "--out", "f32", *mins]))
    portable = json_lines(run([args.bin, *shape_args, "--out", "bf16", "--path", "portable", *mins]))
    fp8 = json_lines(run([args.bin, *shape_args, "--out", "bf16", "--path", "fp8", *mins]))
    ref, meta, gemm = [], {}, {}
    if not args.skip_sdpa:
        lines = json_lines(run([args.python, os.path.join(HERE, "sdpa_ref.py"), "--gemm", *shape_args, *mins]))
        meta = lines[0]
        gemm = next((l for l in lines if "gemm_bf16_tflops" in l), {})
        ref = [l for l in lines if "seq_q" in l]

    device = meta.get("device")
    if not device:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             stdout=subprocess.PIPE, text=True)
        device = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 else "unknown"
    # The commit: $WAN_COMMIT (the device machine has no .git), else git where it works.
    commit = os.environ.get("WAN_COMMIT")
    if not commit:
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True).stdout.strip() or None
        except OSError:
            commit = None

    rows = []
    for i, (name, *_rest) in enumerate(SHAPES):
        r = ref[i] if i < len(ref) else {}
        cands = [r.get("flash_tflops"), r.get("cudnn_tflops"), r.get("efficient_tflops")]
        cands = [c for c in cands if c is not None]
        best = max(cands) if cands else None
        ours = ours_bf16[i]["tflops"]
        f8 = fp8[i]["tflops"]
        rows.append({
            "shape": name,
            "ours_tflops": ours,
            "ours_kernel": ours_bf16[i].get("kernel"),
            "sdpa_best_tflops": best,
            "ratio_to_sdpa_best": round(ours / best, 3) if best else None,
            "ours_f32_out_tflops": ours_f32[i]["tflops"],
            "ours_ms": ours_bf16[i]["ms"],
            "portable_tflops": portable[i]["tflops"],
            "fp8_tflops": f8,
            "fp8_kernel": fp8[i].get("kernel"),
            "fp8_over_bf16": round(f8 / ours, 3),
            "sdpa_flash_tflops": r.get("flash_tflops"),
            "sdpa_cudnn_tflops": r.get("cudnn_tflops"),
            "sdpa_efficient_tflops": r.get("efficient_tflops"),
            **{k: v for k, v in r.items() if k.endswith("_error")},
        })

    first = rows[0]
    targets = {
        "shape": first["shape"],
        "tflops": {"target": TARGET_TFLOPS, "value": first["ours_tflops"],
                   "met": first["ours_tflops"] >= TARGET_TFLOPS},
        "ratio_to_sdpa_best": {"target": TARGET_RATIO_SDPA, "value": first["ratio_to_sdpa_best"],
                               "met": None if first["ratio_to_sdpa_best"] is None
                               else first["ratio_to_sdpa_best"] >= TARGET_RATIO_SDPA},
        "fp8_over_bf16": {"target": TARGET_FP8_OVER_BF16, "value": first["fp8_over_bf16"],
                          "met": first["fp8_over_bf16"] >= TARGET_FP8_OVER_BF16
                          and "e4m3" in (first["fp8_kernel"] or "")},
    }

    variants = []
    if args.sweep:
        picks = [SHAPES[0], next(s for s in SHAPES if s[0].startswith("cross"))]
        for vname in VARIANTS:
            for name, b, h, sq, sk, d in picks:
                res = subprocess.run([args.bin, "--shape", f"{b},{h},{sq},{sk},{d}", "--variant", vname, *mins],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                line = json_lines(res.stdout)
                variants.append({"variant": vname, "shape": name,
                                 "tflops": line[0]["tflops"] if line else None,
                                 **({} if line else {"error": res.stderr.strip()[-200:]})})

    result = {
        "device": device,
        "commit": commit,
        "date": datetime.date.today().isoformat(),
        "kernel": "cuda/attention dispatch (Hopper wgmma/TMA kernel on sm_90a builds, else portable mma.sync); "
                  "bf16 in, f32 softmax/accumulate; fp8 = opt-in e4m3 path incl. its quantize kernel",
        "torch": meta.get("torch"),
        "cudnn": meta.get("cudnn"),
        **gemm,
        "attention": rows,
        "targets": targets,
    }
    if variants:
        result["tile_variants"] = variants
    out = args.out
    if out is None:
        slug = re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")
        out = os.path.join(ROOT, "bench", "results", f"{result['date']}-{slug}-attention.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
