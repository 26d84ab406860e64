#!/usr/bin/env python3
"""Merges the raw results of the device check's steps (bench/cuda/device-check.sh) into one JSON.

    python3 bench/cuda/merge.py --res DIR --commit SHA --out results.json [--dry-run]
                                [--budget-s N] [--elapsed-s N]

The keys the issue's check reads (bench/cuda/README.md says what each holds):
  device, commit, parity [{name, rel_l2, bound, pass}], conformance {passed, failed, cases},
  e2e {width, height, frames, steps, seconds_per_step, vae_decode_s, peak_device_bytes},
  dit_1_3b_480p81 {ours_s, diffusers_eager_s, diffusers_compile_s},
  attention [{shape, ours_tflops, sdpa_best_tflops}]
and beside them: steps (status, exit and seconds of every step), preflight, gemm_tflops, fused_ops
(the block's fused ops against the primitives they replace, ms), e2e_checks
(demo frames against the CPU, cancellation, out of memory), bench_extra, offload_a14b_480p,
vae_decode_480p81 (the VAE decode of 81 frames at 480p from bench_extra against issue 17's target, within_6_gb:
peak device bytes <= 6e9, 6 GB and not 6 GiB), and in a dry run `dry_run`
(what ran without a device). A figure that was not measured is null, with the reason in a string
where a list or object would stand ("not run: no device", "not run: <step> failed").
Only the standard library: it runs under any python3.
"""
import argparse
import datetime
import json
import os
import sys

NO_DEVICE = "not run: no device"
# Issue 17: "VAE decode of 81 frames at 480p within 6 GB" (10^9 bytes: 6 GiB would allow 7% more).
VAE_DECODE_TARGET_BYTES = 6 * 10**9


def load(res, name):
    p = os.path.join(res, name)
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def steps_of(res):
    out = []
    try:
        with open(os.path.join(res, "steps.jsonl")) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


# The parity runs of a device run: (raw file stem, GEMM path label). The label marks the names of
# the runs forced onto the mma.sync GEMM, so that every name in `parity` is unique.
PARITY_RUNS = [
    ("ops", ""), ("models", ""), ("production-ops", ""), ("production-models", ""),
    ("ops-mma", " [mma-sync]"), ("models-mma", " [mma-sync]"),
    ("production-ops-mma", " [mma-sync]"), ("production-models-mma", " [mma-sync]"),
]


def why_missing(steps, step):
    s = next((x for x in steps if x.get("step") == step), None)
    if s is None:
        return f"not run: step {step} did not run"
    return f"not run: step {step} {s.get('status')}"


def vae_decode(extra, steps):
    """wan_cuda_bench's vae_decode_480p (in bench-extra.json) with the 6 GB target decided here from its
    peak, whatever flag the binary wrote (an older one wrote within_6_gib)."""
    v = (extra or {}).get("vae_decode_480p")
    if not isinstance(v, dict):
        return why_missing(steps, "bench-extra")
    peak = v.get("peak_device_bytes")
    out = {k: v.get(k) for k in ("seconds", "latent_frames", "frames", "height", "width", "peak_device_bytes", "weight_bytes")}
    out["target_bytes"] = VAE_DECODE_TARGET_BYTES
    out["within_6_gb"] = None if not isinstance(peak, (int, float)) else peak <= VAE_DECODE_TARGET_BYTES
    return out


def merge(res, commit, dry, budget_s=None, elapsed_s=None):
    steps = steps_of(res)
    pre = load(res, "preflight.json") or {}
    out = {
        "device": None if dry else pre.get("gpu"),
        "commit": commit,
        "date": datetime.date.today().isoformat(),
        "dry_run": dry,
    }

    # ---- parity
    parity = []
    if dry:
        # The names and bounds of every check, from the CPU self-check; no device figure.
        for stem in ("ops", "models", "production-ops", "production-models"):
            rep = load(res, f"parity-{stem}.json") or {}
            for c in rep.get("parity", []):
                parity.append({"name": c["name"], "rel_l2": None, "bound": c["bound"], "pass": None, "group": c.get("group")})
    else:
        for stem, label in PARITY_RUNS:
            rep = load(res, f"parity-{stem}.json")
            if rep is None:
                parity.append({"name": f"{stem}{label} (whole run)", "rel_l2": None, "bound": None, "pass": False,
                               "error": why_missing(steps, f"parity-{stem}")})
                continue
            for c in rep.get("parity", []):
                e = {"name": c["name"] + label, "rel_l2": c.get("rel_l2"), "bound": c.get("bound"), "pass": bool(c.get("pass")),
                     "group": c.get("group"), "gemm": (rep.get("backend") or {}).get("gemm"), "seconds": c.get("seconds")}
                if c.get("error"):
                    e["error"] = c["error"]
                parity.append(e)
            # The harness rewrites its report after every check: a run that died part-way says so.
            if rep.get("complete") is False:
                parity.append({"name": f"{stem}{label} (ended after {len(rep.get('parity', []))} checks)", "rel_l2": None,
                               "bound": None, "pass": False, "error": why_missing(steps, f"parity-{stem}")})
    out["parity"] = parity
    out["parity_summary"] = {
        "checks": len(parity),
        "passed": sum(1 for p in parity if p.get("pass") is True),
        "failed": sum(1 for p in parity if p.get("pass") is False),
    }

    # ---- conformance (--device cuda)
    if dry:
        out["conformance"] = {"passed": None, "failed": None, "cases": NO_DEVICE}
    else:
        conf = load(res, "conformance.json")
        if conf:
            out["conformance"] = {"passed": conf.get("passed"), "failed": conf.get("failed"), "skipped": conf.get("skipped"),
                                  "cases": conf.get("cases")}
        else:
            out["conformance"] = {"passed": None, "failed": None, "cases": why_missing(steps, "conformance")}

    # ---- e2e (the 480p x 81 random-weight run) and its checks
    e2e_keys = ("width", "height", "frames", "steps", "seconds_per_step", "vae_decode_s", "peak_device_bytes")
    e2e = load(res, "e2e.json") or {}
    run = e2e.get("e2e") or {}
    out["e2e"] = {k: (None if dry else run.get(k)) for k in e2e_keys}
    if dry:
        out["e2e"]["note"] = NO_DEVICE
    elif not run or "error" in run:
        out["e2e"]["note"] = (run.get("error") and json.dumps(run["error"])) or why_missing(steps, "e2e")
    else:
        out["e2e"].update({k: run.get(k) for k in ("step_ms", "load_s", "gemm")})
    checks = {k: e2e.get(k) for k in ("demo", "cancel", "oom") if k in e2e}
    out["e2e_checks"] = checks if not dry else {"note": NO_DEVICE}

    # ---- the 1.3B forward at 480p x 81 frames: ours and diffusers' (eager, torch.compile)
    bench = load(res, "bench.json") or {}
    ref = load(res, "diffusers.json") or {}
    ours = (bench.get("transformer_1_3b_480p") or {}).get("seconds")
    theirs = ref.get("transformer_1_3b_480p") or {}
    d = {
        "ours_s": None if dry else ours,
        "diffusers_eager_s": None if dry else theirs.get("seconds"),
        "diffusers_compile_s": None if dry else theirs.get("compile_seconds"),
    }
    if not dry:
        if ours and theirs.get("seconds"):
            d["diffusers_eager_over_ours"] = theirs["seconds"] / ours
        if ours and theirs.get("compile_seconds"):
            d["diffusers_compile_over_ours"] = theirs["compile_seconds"] / ours
        for k in ("rel_l2_ours_vs_diffusers", "compile_error", "compile_first_call_seconds"):
            if k in theirs:
                d[k] = theirs[k]
        for k in ("peak_device_bytes", "gemm", "weights_load_seconds"):
            if k in (bench.get("transformer_1_3b_480p") or {}):
                d["ours_" + k] = bench["transformer_1_3b_480p"][k]
        if ours is None:
            d["note"] = why_missing(steps, "bench")
        elif theirs.get("seconds") is None:
            d["note"] = why_missing(steps, "diffusers")
    else:
        d["note"] = NO_DEVICE
    out["dit_1_3b_480p81"] = d

    # ---- attention: ours against PyTorch SDPA's best backend (flash, cuDNN, efficient)
    att = load(res, "attention.json")
    if dry:
        out["attention"] = NO_DEVICE
    elif att:
        out["attention"] = att.get("attention", [])
        out["gemm_bf16_tflops_torch"] = att.get("gemm_bf16_tflops")
    else:
        out["attention"] = why_missing(steps, "attention")

    if not dry:
        out["preflight"] = pre
        out["gemm_tflops"] = bench.get("gemm_tflops")
        out["fused_ops"] = bench.get("fused_ops")
        out["bench_extra"] = load(res, "bench-extra.json")
        # Streamed blocks against all resident at the A14B block size (issue 17's offload target).
        off = load(res, "offload.json")
        out["offload_a14b_480p"] = off.get("offload_a14b_480p") if off else why_missing(steps, "offload")
        out["vae_decode_480p81"] = vae_decode(out["bench_extra"], steps)
        out["binaries"] = load(res, "binaries.json")
    else:
        rep = {s: load(res, f"parity-{s}.json") or {} for s in ("ops", "models", "production-ops", "production-models")}
        out["vae_decode_480p81"] = NO_DEVICE
        conf = load(res, "conformance-cpu.json") or {}
        out["dry_run"] = {
            "parity_self_check": {s: {"passed": r.get("passed"), "failed": r.get("failed"), "reduce": r.get("reduce")} for s, r in rep.items()},
            "conformance_cpu": {k: conf.get(k) for k in ("passed", "failed", "skipped")},
            "e2e_cpu": load(res, "e2e-cpu.json"),
            "binaries": load(res, "binaries.json"),
        }
    out["steps"] = steps
    out["budget_s"] = budget_s
    out["elapsed_s"] = elapsed_s
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", required=True)
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--budget-s", type=int)
    ap.add_argument("--elapsed-s", type=int)
    args = ap.parse_args()
    out = merge(args.res, args.commit, args.dry_run, args.budget_s, args.elapsed_s)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    s = out["parity_summary"]
    print(f"merge: {args.out}: device {out['device']}, parity {s['passed']}/{s['checks']} passed, "
          f"conformance {out['conformance'].get('passed')} passed {out['conformance'].get('failed')} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
