#!/usr/bin/env python3
"""diffusers' WanTransformer3DModel (PyTorch SDPA, bf16) on the configurations wan_cuda_bench times.

    python3 bench/cuda/diffusers_ref.py --diffusers-src PATH [--json OUT] [--compare DIR] [--quick]

PATH is a diffusers source checkout (its `src` folder or the repository root), carried to the device
machine and never committed. The weights are the ones wan_cuda_bench builds: RandomWeightSource(seed
42, std 0.02) keyed by the same (diffusers) tensor names, reproduced here bit for bit in numpy, then
cast to bf16. The inputs come from the same generator. With --compare DIR (wan_cuda_bench --dump DIR)
the relative L2 distance between the two implementations' outputs is reported too.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

MASK64 = (1 << 64) - 1


def name_hash(seed: int, name: str) -> int:
    h = (seed ^ 0x9E3779B97F4A7C15) & MASK64
    for ch in name.encode():
        h = ((h ^ ch) * 0x100000001B3) & MASK64
    return h


def random_tensor(name: str, shape, seed: int = 42, std: float = 0.02, chunk: int = 1 << 24) -> np.ndarray:
    """The C++ RandomWeightSource::take: splitmix64 per element, uniform [-a, a], a = std * sqrt(3)."""
    n = int(np.prod(shape)) if len(shape) else 1
    h = np.uint64(name_hash(seed, name))
    amp = np.float32(std) * np.float32(np.sqrt(np.float32(3.0)))
    out = np.empty(n, dtype=np.float32)
    with np.errstate(over="ignore"):
        for start in range(0, n, chunk):
            i = np.arange(start + 1, min(n, start + chunk) + 1, dtype=np.uint64)
            z = h + np.uint64(0x9E3779B97F4A7C15) * i
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z ^= z >> np.uint64(31)
            u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 / 16777216.0) - np.float32(1.0)
            out[start : start + len(i)] = amp * u
    return out.reshape(shape)


CONFIGS = {
    # Wan2.1-T2V-1.3B at 480p, 81 frames
    "transformer_1_3b_480p": dict(heads=12, ffn=8960, layers=30, latent=(21, 60, 104), iters=3),
    # one block of Wan2.1-T2V-14B at 720p, 81 frames
    "block_14b_720p": dict(heads=40, ffn=13824, layers=1, latent=(21, 90, 160), iters=3),
}


def build(torch, WanTransformer3DModel, heads, ffn, layers):
    model = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=128, in_channels=16, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=ffn, num_layers=layers, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None, added_kv_proj_dim=None, rope_max_seq_len=1024)
    state = {}
    for name, p in model.state_dict().items():
        state[name] = torch.from_numpy(random_tensor(name, tuple(p.shape)))
    missing, unexpected = model.load_state_dict(state, strict=True), None
    return model.to(device="cuda", dtype=torch.bfloat16).eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--diffusers-src", required=True)
    ap.add_argument("--json")
    ap.add_argument("--compare", help="folder of wan_cuda_bench --dump outputs")
    ap.add_argument("--quick", action="store_true", help="2 layers at a small latent (a smoke run)")
    args = ap.parse_args()
    src = args.diffusers_src
    if os.path.isdir(os.path.join(src, "src", "diffusers")):
        src = os.path.join(src, "src")
    sys.path.insert(0, src)
    import torch
    from diffusers import WanTransformer3DModel

    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
               "attention": "torch SDPA (diffusers default attention processor)"}
    configs = dict(CONFIGS)
    if args.quick:
        configs = {"transformer_1_3b_480p": dict(heads=12, ffn=8960, layers=2, latent=(5, 30, 52), iters=1)}
    for key, cfg in configs.items():
        F, H, W = cfg["latent"]
        model = build(torch, WanTransformer3DModel, cfg["heads"], cfg["ffn"], cfg["layers"])
        hs = torch.from_numpy(random_tensor("input.hidden_states", (1, 16, F, H, W), std=1.0))
        ctx = torch.from_numpy(random_tensor("input.encoder_hidden_states", (1, 512, 4096), std=1.0))
        hs = hs.to("cuda", torch.bfloat16)
        ctx = ctx.to("cuda", torch.bfloat16)
        t = torch.tensor([999.0], device="cuda")
        times = []
        with torch.no_grad():
            for i in range(cfg["iters"] + 1):  # the first is the warm-up
                torch.cuda.synchronize()
                s = time.perf_counter()
                out = model(hidden_states=hs, timestep=t, encoder_hidden_states=ctx, return_dict=False)[0]
                torch.cuda.synchronize()
                if i:
                    times.append(time.perf_counter() - s)
        times.sort()
        entry = {"seconds": times[len(times) // 2], "iterations": cfg["iters"], "tokens": F * (H // 2) * (W // 2),
                 "layers": cfg["layers"], "peak_torch_bytes": torch.cuda.max_memory_allocated()}
        dump = os.path.join(args.compare, "dit_1_3b.f32" if key.startswith("transformer") else "block_14b.f32") \
            if args.compare else None
        if dump and os.path.exists(dump):
            ours = np.fromfile(dump, dtype=np.float32)
            ref = out.float().cpu().numpy().reshape(-1)
            if ours.size == ref.size:
                entry["rel_l2_ours_vs_diffusers"] = float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-30))
        print(f"diffusers {key}: {entry['seconds']:.3f} s per forward, {entry['tokens']} tokens"
              + (f", rel_l2 vs ours {entry['rel_l2_ours_vs_diffusers']:.3g}" if "rel_l2_ours_vs_diffusers" in entry else ""),
              flush=True)
        results[key] = entry
        del model, out
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    text = json.dumps(results, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
