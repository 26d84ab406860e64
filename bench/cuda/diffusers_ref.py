#!/usr/bin/env python3
"""diffusers' WanTransformer3DModel (PyTorch SDPA, bf16) on the configurations wan_cuda_bench times,
eager and (with --compile) through torch.compile, on the same device in the same run.

    python3 bench/cuda/diffusers_ref.py --diffusers-src PATH [--json OUT] [--compare DIR] [--quick]
                                        [--compile] [--only transformer_1_3b_480p] [--check-rng]

PATH is a diffusers source tree (its `src` folder, the repository root, or the `diffusers` package
folder's parent), carried to the device machine and never committed. The weights are the ones
wan_cuda_bench builds: RandomWeightSource(seed 42, std 0.02) keyed by the same (diffusers) tensor
names, reproduced here bit for bit (on the GPU with torch's int64 arithmetic, or in numpy), then cast
to bf16. The inputs come from the same generator. With --compare DIR (wan_cuda_bench --dump DIR) the
relative L2 distance between the two implementations' outputs is reported too. The JSON is written
after every measurement, so a compile that runs out of time leaves the eager numbers.
--check-rng compares the torch generator with the numpy one (no GPU needed) and exits.
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


def _signed(c: int) -> int:
    return c - (1 << 64) if c >= 1 << 63 else c


def random_tensor_torch(torch, name: str, shape, device, seed: int = 42, std: float = 0.02) -> "torch.Tensor":
    """random_tensor on a torch device: int64 arithmetic wraps like uint64, and the logical right
    shifts are arithmetic ones masked to the bits a logical shift keeps. Bit-identical to numpy's."""
    n = 1
    for d in shape:
        n *= int(d)
    h = _signed(name_hash(seed, name))
    amp = float(np.float32(std) * np.float32(np.sqrt(np.float32(3.0))))

    def shr(z, s):
        return (z >> s) & ((1 << (64 - s)) - 1)

    i = torch.arange(1, n + 1, dtype=torch.int64, device=device)
    z = h + _signed(0x9E3779B97F4A7C15) * i
    z = (z ^ shr(z, 30)) * _signed(0xBF58476D1CE4E5B9)
    z = (z ^ shr(z, 27)) * _signed(0x94D049BB133111EB)
    z = z ^ shr(z, 31)
    u = shr(z, 40).to(torch.float32) * (2.0 / 16777216.0) - 1.0
    return (torch.tensor(amp, dtype=torch.float32, device=device) * u).reshape(tuple(shape))


CONFIGS = {
    # Wan2.1-T2V-1.3B at 480p, 81 frames
    "transformer_1_3b_480p": dict(heads=12, ffn=8960, layers=30, latent=(21, 60, 104), iters=3),
    # one block of Wan2.1-T2V-14B at 720p, 81 frames
    "block_14b_720p": dict(heads=40, ffn=13824, layers=1, latent=(21, 90, 160), iters=3),
}


def build(torch, WanTransformer3DModel, heads, ffn, layers, device="cuda"):
    # Built on the device (its default initialisation runs there, fast), then every state-dict
    # tensor replaced by the generator's values, made on the device too.
    with torch.device(device):
        model = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=128, in_channels=16, out_channels=16,
            text_dim=4096, freq_dim=256, ffn_dim=ffn, num_layers=layers, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None, added_kv_proj_dim=None, rope_max_seq_len=1024)
    state = {name: random_tensor_torch(torch, name, tuple(p.shape), device) for name, p in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    # bf16, except the modules diffusers keeps in float32 when a user loads with torch_dtype=bfloat16
    # (_keep_in_fp32_modules: rope, time embedder, modulation tables, norms), as from_pretrained does.
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or [])
    model = model.to(dtype=torch.bfloat16)
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if keep & set(name.split(".")) and t.is_floating_point():
            t.data = t.data.float()
    return model.eval()


def time_forwards(torch, fn, iters):
    """Median seconds of `iters` forwards after one warm-up (the first call compiles under --compile)."""
    times = []
    out = None
    with torch.no_grad():
        for i in range(iters + 1):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = fn()
            torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
            else:
                first = time.perf_counter() - t0
    times.sort()
    return times[len(times) // 2], first, out


def check_rng():
    import torch
    for name, shape in (("blocks.0.ffn.net.0.proj.weight", (64, 48)), ("input.hidden_states", (3, 5, 7)), ("x", (1,))):
        a = random_tensor(name, shape)
        b = random_tensor_torch(torch, name, shape, "cpu").numpy()
        if not np.array_equal(a.view(np.uint32), b.view(np.uint32)):
            print(f"rng mismatch for {name}", file=sys.stderr)
            return 1
    print("rng: torch generator == numpy generator (bit for bit)")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--diffusers-src")
    ap.add_argument("--json")
    ap.add_argument("--compare", help="folder of wan_cuda_bench --dump outputs")
    ap.add_argument("--quick", action="store_true", help="2 layers at a small latent (a smoke run)")
    ap.add_argument("--compile", action="store_true", help="also time the model under torch.compile")
    ap.add_argument("--only", help="one configuration (transformer_1_3b_480p or block_14b_720p)")
    ap.add_argument("--check-rng", action="store_true")
    args = ap.parse_args()
    if args.check_rng:
        return check_rng()
    if not args.diffusers_src:
        ap.error("--diffusers-src is required")
    src = args.diffusers_src
    if os.path.isdir(os.path.join(src, "src", "diffusers")):
        src = os.path.join(src, "src")
    sys.path.insert(0, src)
    import torch
    from diffusers import WanTransformer3DModel

    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
               "attention": "torch SDPA (diffusers default attention processor)"}

    def save():
        text = json.dumps(results, indent=2)
        if args.json:
            with open(args.json, "w") as f:
                f.write(text + "\n")
        return text

    configs = dict(CONFIGS)
    if args.quick:
        configs = {"transformer_1_3b_480p": dict(heads=12, ffn=8960, layers=2, latent=(5, 30, 52), iters=1)}
    if args.only:
        configs = {args.only: configs[args.only]}
    for key, cfg in configs.items():
        F, H, W = cfg["latent"]
        t0 = time.perf_counter()
        model = build(torch, WanTransformer3DModel, cfg["heads"], cfg["ffn"], cfg["layers"])
        build_s = time.perf_counter() - t0
        hs = random_tensor_torch(torch, "input.hidden_states", (1, 16, F, H, W), "cuda", std=1.0).to(torch.bfloat16)
        ctx = random_tensor_torch(torch, "input.encoder_hidden_states", (1, 512, 4096), "cuda", std=1.0).to(torch.bfloat16)
        t = torch.tensor([999.0], device="cuda")

        def forward(m):
            return lambda: m(hidden_states=hs, timestep=t, encoder_hidden_states=ctx, return_dict=False)[0]

        sec, _, out = time_forwards(torch, forward(model), cfg["iters"])
        entry = {"seconds": sec, "iterations": cfg["iters"], "tokens": F * (H // 2) * (W // 2), "layers": cfg["layers"],
                 "build_seconds": build_s, "peak_torch_bytes": torch.cuda.max_memory_allocated()}
        dump = os.path.join(args.compare, "dit_1_3b.f32" if key.startswith("transformer") else "block_14b.f32") \
            if args.compare else None
        if dump and os.path.exists(dump):
            ours = np.fromfile(dump, dtype=np.float32)
            ref = out.float().cpu().numpy().reshape(-1)
            if ours.size == ref.size:
                entry["rel_l2_ours_vs_diffusers"] = float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-30))
        results[key] = entry
        save()
        print(f"diffusers {key}: eager {sec:.3f} s per forward, {entry['tokens']} tokens"
              + (f", rel_l2 vs ours {entry['rel_l2_ours_vs_diffusers']:.3g}" if "rel_l2_ours_vs_diffusers" in entry else ""),
              flush=True)
        if args.compile:
            try:
                compiled = torch.compile(model)
                csec, first, _ = time_forwards(torch, forward(compiled), cfg["iters"])
                entry["compile_seconds"] = csec
                entry["compile_first_call_seconds"] = first
                print(f"diffusers {key}: torch.compile {csec:.3f} s per forward (first call {first:.1f} s)", flush=True)
            except Exception as e:  # a compile failure is a result, not a crash of the run
                entry["compile_error"] = f"{type(e).__name__}: {str(e)[:300]}"
                print(f"diffusers {key}: torch.compile failed: {entry['compile_error']}", flush=True)
            save()
        del model, out
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    text = save()
    if not args.json:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
