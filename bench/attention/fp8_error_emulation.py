#!/usr/bin/env python3
"""Expected error of the opt-in e4m3 attention (cuda/attention/hopper_*), emulated on the CPU.

No GPU here, so this predicts what the device check will measure: it runs the arithmetic of the
Hopper kernel's e4m3 path in numpy -- q, k, v rounded to bf16 (the backend's input), quantized to
e4m3 per block of 128 rows of one head with scale = amax / 448 (the quantize kernel), the key loop in
tiles of 128 with the online softmax in base 2, P lifted by 2^8 and rounded to e4m3, O kept in units
of the current V block's scale -- and the same for the bf16 path (P rounded to bf16), against a
float64 softmax(q k^T / sqrt(d)) v. f32 accumulation is emulated as exact (the tensor cores' fp8
accumulation is known to keep fewer bits; the device run measures the kernel itself).

Inputs:
  * real shapes: 1.3B at 480p x 81 frames (32,760 tokens, 12 heads) and 14B at 720p (75,600 tokens,
    40 heads), head 128; a sample of query rows of two heads against every key (the error of a row
    does not depend on the other rows), for three input distributions: uniform [-1, 1] (what the
    parity test and the benchmark use), Gaussian (RMS-normalised q/k, logits of std 1), and
    Gaussian with q x3 (peaky softmax);
  * the fixtures: block 0 of ../shared/fixtures dit/t2v-head128 (the head-128 model): its
    self-attention and cross-attention q, k, v rebuilt from the case's intermediates and weights
    (diffusers' WanTransformerBlock); the rebuild is checked by finishing the block and comparing
    with the case's out.block0.

  /work/venv/bin/python bench/attention/fp8_error_emulation.py [--rows 256] [--json out.json]
"""
import argparse
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BLOCK = 128  # rows per e4m3 scale block = keys per tile
LOG2E = 1.4426950408889634


def bf16(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def e4m3(x):
    """Round to e4m3 (fn): nearest even, subnormals below 2^-6, saturating at 448."""
    a = np.minimum(np.abs(x), 448.0).astype(np.float64)
    e = np.floor(np.log2(np.maximum(a, 2.0 ** -6)))
    step = 2.0 ** (e - 3)
    q = np.minimum(np.round(a / step) * step, 448.0)
    return (np.sign(x) * q).astype(np.float32)


def block_quantize(x):
    """x [S, D] -> (x8 [S, D] as e4m3 values, scale per block of BLOCK rows)."""
    S = x.shape[0]
    nb = (S + BLOCK - 1) // BLOCK
    x8 = np.empty_like(x)
    scales = np.empty(nb, np.float32)
    for b in range(nb):
        blk = x[b * BLOCK:(b + 1) * BLOCK]
        amax = float(np.abs(blk).max())
        scale, inv = (np.float32(amax / 448.0), np.float32(448.0 / amax)) if amax > 0 else (np.float32(1), np.float32(1))
        scales[b] = scale
        x8[b * BLOCK:(b + 1) * BLOCK] = e4m3(blk * inv)
    return x8, scales


def reference(q, k, v, scale):
    s = (q.astype(np.float64) @ k.astype(np.float64).T) * scale
    s -= s.max(axis=1, keepdims=True)
    p = np.exp(s)
    return (p @ v.astype(np.float64)) / p.sum(axis=1, keepdims=True)


def kernel_bf16(q, k, v, scale):
    """The bf16 path: f32 scores, online softmax in base 2, P rounded to bf16 for P V."""
    n, S = q.shape[0], k.shape[0]
    m = np.full((n, 1), -np.inf, np.float32)
    l = np.zeros((n, 1), np.float32)
    o = np.zeros((n, v.shape[1]), np.float32)
    c = np.float32(scale * LOG2E)
    for j0 in range(0, S, BLOCK):
        s = q @ k[j0:j0 + BLOCK].T
        m_new = np.maximum(m, s.max(axis=1, keepdims=True) * c)
        alpha = np.exp2(m - m_new)
        p = np.exp2(s * c - m_new)
        l = l * alpha + p.sum(axis=1, keepdims=True)
        o = o * alpha + bf16(p) @ v[j0:j0 + BLOCK]
        m = m_new
    return o / l


def kernel_e4m3(q_rows, q_block_of_row, q8_all, q_sc, k, v, scale):
    """The e4m3 path. q8_all / q_sc: the whole head's quantized q (blocks are per 128 rows of the
    sequence); q_rows: indices of the rows to compute."""
    k8, k_sc = block_quantize(k)
    v8, v_sc = block_quantize(v)
    q8 = q8_all[q_rows]
    qs = q_sc[q_block_of_row][:, None]
    n, S = q8.shape[0], k.shape[0]
    m = np.full((n, 1), -np.inf, np.float32)
    l = np.zeros((n, 1), np.float32)
    o = np.zeros((n, v.shape[1]), np.float32)
    v_prev = v_sc[0]
    for j, j0 in enumerate(range(0, S, BLOCK)):
        c = np.float32(scale * LOG2E) * qs * k_sc[j]
        s = q8 @ k8[j0:j0 + BLOCK].T
        m_new = np.maximum(m, s.max(axis=1, keepdims=True) * c)
        alpha = np.exp2(m - m_new)
        p = np.exp2(s * c - (m_new - 8.0))  # P in [0, 256]
        l = l * alpha + p.sum(axis=1, keepdims=True)
        o = o * (alpha * (v_prev / v_sc[j])) + e4m3(p) @ v8[j0:j0 + BLOCK]
        v_prev = v_sc[j]
        m = m_new
    return o * v_prev / l


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def errors(q, k, v, rows, scale):
    """q, k, v: [S, D] of one head (float32, already bf16-rounded)."""
    q8_all, q_sc = block_quantize(q)
    ref = reference(q[rows], k, v, scale)
    ob = kernel_bf16(q[rows], k, v, scale)
    of = kernel_e4m3(rows, rows // BLOCK, q8_all, q_sc, k, v, scale)
    return {"bf16_vs_ref": rel_l2(ob, ref), "e4m3_vs_ref": rel_l2(of, ref), "e4m3_vs_bf16": rel_l2(of, ob)}


def synthetic(S, heads, rows, dist, rng):
    out = []
    for _ in range(heads):
        if dist == "uniform":
            q, k, v = (rng.uniform(-1, 1, (S, 128)).astype(np.float32) for _ in range(3))
        else:
            q, k, v = (rng.standard_normal((S, 128)).astype(np.float32) for _ in range(3))
            if dist == "gaussian-q3":
                q *= 3
        idx = np.sort(rng.choice(S, rows, replace=False))
        out.append(errors(bf16(q), bf16(k), bf16(v), idx, 1 / math.sqrt(128)))
    return {key: max(e[key] for e in out) for key in out[0]}


# ---- the fixture's block 0 (diffusers WanTransformerBlock), to get its real attention inputs

def layer_norm(x, eps, w=None, b=None):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    return y * w + b if w is not None else y


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope_tables(F, Hp, Wp, D=128, theta=10000.0, max_len=1024):
    hw = 2 * (D // 6)
    cos, sin = [], []
    for dim in (D - 2 * hw, hw, hw):
        freqs = 1.0 / theta ** (np.arange(0, dim, 2, dtype=np.float64)[: dim // 2] / dim)
        ang = np.outer(np.arange(max_len, dtype=np.float64), freqs)
        cos.append(np.repeat(np.cos(ang), 2, axis=1))
        sin.append(np.repeat(np.sin(ang), 2, axis=1))
    f, h, w = np.meshgrid(np.arange(F), np.arange(Hp), np.arange(Wp), indexing="ij")
    f, h, w = f.ravel(), h.ravel(), w.ravel()
    c = np.concatenate([cos[0][f], cos[1][h], cos[2][w]], axis=1)
    s = np.concatenate([sin[0][f], sin[1][h], sin[2][w]], axis=1)
    return c, s


def apply_rope(x, c, s):  # x [S, H, D]
    x1, x2 = x[..., 0::2], x[..., 1::2]
    cc, ss = c[:, None, 0::2], s[:, None, 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x1 * cc - x2 * ss
    out[..., 1::2] = x1 * ss + x2 * cc
    return out


def attention_heads(q, k, v, heads):
    S, HD = q.shape
    D = HD // heads
    o = np.concatenate([reference(q[:, h * D:(h + 1) * D], k[:, h * D:(h + 1) * D], v[:, h * D:(h + 1) * D],
                                  1 / math.sqrt(D)) for h in range(heads)], axis=1)
    return o


def fixture_inputs(fixtures):
    from safetensors.numpy import load_file

    case = os.path.join(fixtures, "cases", "dit", "t2v-head128")
    model = os.path.join(fixtures, "models", "dit-t2v-head128")
    cfg = json.load(open(os.path.join(model, "config.json")))
    t = {k: v.astype(np.float64) for k, v in load_file(os.path.join(case, "tensors.safetensors")).items()}
    w = {k: v.astype(np.float64) for k, v in load_file(os.path.join(model, "diffusion_pytorch_model.safetensors")).items()
         if k.startswith("blocks.0.")}
    H, eps = cfg["num_attention_heads"], cfg["eps"]
    x = t["out.patch_embedding"][0]
    text = t["out.text_embedding"][0]
    dim = x.shape[1]
    mod = w["blocks.0.scale_shift_table"][0] + t["out.timestep_proj"][0].reshape(6, dim)
    shift, sc, gate, c_shift, c_scale, c_gate = mod
    _, _, F, Hh, Ww = t["in.hidden_states"].shape
    pt, ph, pw = cfg["patch_size"]
    cos, sin = rope_tables(F // pt, Hh // ph, Ww // pw, dim // H)

    def lin(name, a):
        return a @ w[name + ".weight"].T + w[name + ".bias"]

    a1 = "blocks.0.attn1"
    nh = layer_norm(x, eps) * (1 + sc) + shift
    q = rms_norm(lin(a1 + ".to_q", nh), w[a1 + ".norm_q.weight"], eps)
    k = rms_norm(lin(a1 + ".to_k", nh), w[a1 + ".norm_k.weight"], eps)
    v = lin(a1 + ".to_v", nh)
    S, D = x.shape[0], dim // H
    q = apply_rope(q.reshape(S, H, D), cos, sin).reshape(S, dim)
    k = apply_rope(k.reshape(S, H, D), cos, sin).reshape(S, dim)
    self_qkv = (q, k, v)
    h = x + lin(a1 + ".to_out.0", attention_heads(q, k, v, H)) * gate
    a2 = "blocks.0.attn2"
    n2 = layer_norm(h, eps, w["blocks.0.norm2.weight"], w["blocks.0.norm2.bias"])
    q2 = rms_norm(lin(a2 + ".to_q", n2), w[a2 + ".norm_q.weight"], eps)
    k2 = rms_norm(lin(a2 + ".to_k", text), w[a2 + ".norm_k.weight"], eps)
    v2 = lin(a2 + ".to_v", text)
    cross_qkv = (q2, k2, v2)
    h = h + lin(a2 + ".to_out.0", attention_heads(q2, k2, v2, H))
    n3 = layer_norm(h, eps) * (1 + c_scale) + c_shift
    u = lin("blocks.0.ffn.net.0.proj", n3)
    u = 0.5 * u * (1 + np.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u ** 3)))
    h = h + lin("blocks.0.ffn.net.2", u) * c_gate
    check = rel_l2(h, t["out.block0"][0])
    return H, self_qkv, cross_qkv, check


def fixture_errors(fixtures):
    H, self_qkv, cross_qkv, check = fixture_inputs(fixtures)
    res = {"case": "dit/t2v-head128 block 0", "rebuild_vs_out_block0": check}
    for name, (q, k, v) in (("self", self_qkv), ("cross", cross_qkv)):
        D = q.shape[1] // H
        per_head = []
        for h in range(H):
            sl = slice(h * D, (h + 1) * D)
            qh, kh, vh = (bf16(a[:, sl].astype(np.float32)) for a in (q, k, v))
            per_head.append(errors(qh, kh, vh, np.arange(qh.shape[0]), 1 / math.sqrt(D)))
        res[name] = {"seq_q": int(q.shape[0]), "seq_k": int(k.shape[0]), "heads": H,
                     **{key: max(e[key] for e in per_head) for key in per_head[0]}}
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=256, help="query rows sampled per head at the real shapes")
    ap.add_argument("--fixtures", default=os.environ.get("WAN_FIXTURES", os.path.join(ROOT, "..", "shared", "fixtures")))
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--quick", action="store_true", help="only the 32,760-token shape, uniform inputs")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    out = {"what": "CPU emulation of the e4m3 attention's arithmetic (not a device measurement)",
           "block_rows": BLOCK, "rows_sampled_per_head": args.rows, "real_shapes": []}
    shapes = [("1.3B 480p81: S=32760, 12 heads, d128", 32760)]
    dists = ["uniform"] if args.quick else ["uniform", "gaussian", "gaussian-q3"]
    if not args.quick:
        shapes.append(("14B 720p81: S=75600, 40 heads, d128", 75600))
    for name, S in shapes:
        for dist in dists:
            r = {"shape": name, "inputs": dist, "heads_sampled": 2, **synthetic(S, 2, args.rows, dist, rng)}
            out["real_shapes"].append(r)
            print(json.dumps(r), flush=True)
    if os.path.exists(os.path.join(args.fixtures, "cases", "dit", "t2v-head128")):
        out["fixture"] = fixture_errors(args.fixtures)
        print(json.dumps(out["fixture"]), flush=True)
    else:
        print("fixtures not found: the fixture rows are skipped", file=sys.stderr)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
