// The image ops of frame interpolation (RIFE's IFNet) on the CPU, on channels-last images
// [N, H, W, C]: the transposed convolution, bilinear resizing, the backward warp, pixel shuffle and
// the small elementwise steps between them. Each follows the arithmetic of the torch op it stands
// for (weights, clamping, order of the products), so the float32 results agree to rounding.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_math.h"
#include "core/error.h"

namespace wan::cpu {

namespace {

int64_t pixels_of(const Tensor& t) { return t.numel() / std::max<int64_t>(1, t.dim(-1)); }

// Source taps of one output coordinate of a bilinear resize (torch's upsample_bilinear2d, not
// aligned corners): the two neighbours and the weight of the second.
struct LinearTap {
  int64_t i0, i1;
  float l1;
};

std::vector<LinearTap> linear_taps(int64_t in, int64_t out) {
  std::vector<LinearTap> taps(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t d = 0; d < out; ++d) {
    float real = scale * (static_cast<float>(d) + 0.5f) - 0.5f;
    real = real < 0.0f ? 0.0f : real;
    const int64_t i0 = static_cast<int64_t>(real);
    taps[d] = {i0, i0 + (i0 < in - 1 ? 1 : 0), std::min(real - static_cast<float>(i0), 1.0f)};
  }
  return taps;
}

}  // namespace

void CpuBackend::conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvTranspose2dParams& p,
                                  Tensor& y) {
  WAN_CHECK(x.rank() == 4 && y.rank() == 4, "conv_transpose2d: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), Cin = x.dim(3), Cout = w.dim(0);
  const int s = p.stride, kh = p.kh, kw = p.kw;
  WAN_CHECK(s >= 1 && kh >= 1 && kw >= 1 && p.padding >= 0, "conv_transpose2d: parameters");
  WAN_CHECK(w.rank() == 2 && w.dim(1) == int64_t{kh} * kw * Cin,
            "conv_transpose2d: weight " + shape_str(w.shape()) + " for " + std::to_string(kh * kw) + " taps of " +
                std::to_string(Cin) + " channels");
  WAN_CHECK(!bias || bias->numel() == Cout, "conv_transpose2d: bias");
  const int64_t Ho = (H - 1) * s - 2 * p.padding + kh, Wo = (W - 1) * s - 2 * p.padding + kw;
  WAN_CHECK(y.shape() == Shape({N, Ho, Wo, Cout}),
            "conv_transpose2d: output " + shape_str(y.shape()) + ", expected " + shape_str({N, Ho, Wo, Cout}));
  const float* xd = x.f32();
  const float* wd = w.f32();
  const float* bd = bias ? bias->f32() : nullptr;
  float* yd = y.f32();
  // Output pixel (oh, ow) reads input (ih, iw) through tap (i, j) when oh = ih*s - padding + i: the
  // taps of one output phase ((oh + padding) mod s, likewise for ow) form an ordinary small conv.
  // Each phase is one patch matrix times its gathered weight, then scattered into y.
  thread_local std::vector<float> patch, prod, wphase;
  for (int rh = 0; rh < s; ++rh) {
    for (int rw = 0; rw < s; ++rw) {
      std::vector<std::pair<int, int>> taps;
      for (int i = rh; i < kh; i += s)
        for (int j = rw; j < kw; j += s) taps.emplace_back(i, j);
      std::vector<int64_t> rows, cols;
      for (int64_t oh = 0; oh < Ho; ++oh)
        if ((oh + p.padding) % s == rh) rows.push_back(oh);
      for (int64_t ow = 0; ow < Wo; ++ow)
        if ((ow + p.padding) % s == rw) cols.push_back(ow);
      const int64_t nt = static_cast<int64_t>(taps.size()), K = nt * Cin, M = static_cast<int64_t>(rows.size() * cols.size());
      if (M == 0) continue;
      if (nt > 0) {
        wphase.resize(static_cast<size_t>(Cout * K));
        for (int64_t o = 0; o < Cout; ++o)
          for (int64_t t = 0; t < nt; ++t)
            std::memcpy(wphase.data() + o * K + t * Cin, wd + o * w.dim(1) + (int64_t{taps[t].first} * kw + taps[t].second) * Cin,
                        Cin * sizeof(float));
      }
      const int64_t tile = std::min<int64_t>(M, std::max<int64_t>(64, (int64_t{4} << 20) / std::max<int64_t>(1, K)));
      if (nt > 0) patch.resize(static_cast<size_t>(tile * K));
      prod.resize(static_cast<size_t>(tile * Cout));
      const int64_t ncols = static_cast<int64_t>(cols.size());
      for (int64_t n = 0; n < N; ++n) {
        const float* xn = xd + n * H * W * Cin;
        float* yn = yd + n * Ho * Wo * Cout;
        for (int64_t m0 = 0; m0 < M; m0 += tile) {
          const int64_t count = std::min(tile, M - m0);
          float* const pd = patch.data();
          float* const qd = prod.data();
          if (nt > 0) {
            pool_.parallel_for(count, [&](int64_t r0, int64_t r1) {
              for (int64_t r = r0; r < r1; ++r) {
                const int64_t oh = rows[(m0 + r) / ncols], ow = cols[(m0 + r) % ncols];
                float* dst = pd + r * K;
                for (int64_t t = 0; t < nt; ++t, dst += Cin) {
                  const int64_t ih = (oh + p.padding - taps[t].first) / s, iw = (ow + p.padding - taps[t].second) / s;
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                    std::memset(dst, 0, Cin * sizeof(float));
                  else
                    std::memcpy(dst, xn + (ih * W + iw) * Cin, Cin * sizeof(float));
                }
              }
            }, 16);
            gemm_(true, count, Cout, K, 1.0f, pd, K, wphase.data(), K, 0.0f, qd, Cout);
          } else {
            std::memset(qd, 0, static_cast<size_t>(count * Cout) * sizeof(float));
          }
          pool_.parallel_for(count, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
              const int64_t oh = rows[(m0 + r) / ncols], ow = cols[(m0 + r) % ncols];
              float* dst = yn + (oh * Wo + ow) * Cout;
              const float* src = qd + r * Cout;
              for (int64_t o = 0; o < Cout; ++o) dst[o] = bd ? src[o] + bd[o] : src[o];
            }
          }, 64);
        }
      }
    }
  }
}

void CpuBackend::resize_bilinear(const Tensor& x, float multiply, Tensor& y) {
  WAN_CHECK(x.rank() == 4 && y.rank() == 4 && x.dim(0) == y.dim(0) && x.dim(3) == y.dim(3),
            "resize_bilinear: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3), Ho = y.dim(1), Wo = y.dim(2);
  WAN_CHECK(H > 0 && W > 0 && Ho > 0 && Wo > 0, "resize_bilinear: empty image");
  const std::vector<LinearTap> th = linear_taps(H, Ho), tw = linear_taps(W, Wo);
  const float* xd = x.f32();
  float* yd = y.f32();
  pool_.parallel_for(N * Ho, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / Ho, oh = r % Ho;
      const LinearTap& a = th[oh];
      const float h1 = a.l1, h0 = 1.0f - h1;
      const float* row0 = xd + (n * H + a.i0) * W * C;
      const float* row1 = xd + (n * H + a.i1) * W * C;
      float* out = yd + r * Wo * C;
      for (int64_t ow = 0; ow < Wo; ++ow) {
        const LinearTap& b = tw[ow];
        const float w1 = b.l1, w0 = 1.0f - w1;
        const float *p00 = row0 + b.i0 * C, *p01 = row0 + b.i1 * C, *p10 = row1 + b.i0 * C, *p11 = row1 + b.i1 * C;
        float* o = out + ow * C;
        for (int64_t c = 0; c < C; ++c)
          o[c] = (h0 * (w0 * p00[c] + w1 * p01[c]) + h1 * (w0 * p10[c] + w1 * p11[c])) * multiply;
      }
    }
  }, 4);
}

void CpuBackend::warp(const Tensor& x, const Tensor& flow, int flow_channel, Tensor& y) {
  WAN_CHECK(x.rank() == 4 && flow.rank() == 4 && y.shape() == x.shape() && flow.dim(0) == x.dim(0) &&
                flow.dim(1) == x.dim(1) && flow.dim(2) == x.dim(2) && flow_channel >= 0 && flow_channel + 2 <= flow.dim(3),
            "warp: " + shape_str(x.shape()) + " by flow " + shape_str(flow.shape()) + " channel " +
                std::to_string(flow_channel));
  WAN_CHECK(x.raw() != y.raw(), "warp: y must not alias x");
  const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3), Cf = flow.dim(3);
  const float* xd = x.f32();
  const float* fd = flow.f32();
  float* yd = y.f32();
  const float xmax = static_cast<float>(W - 1), ymax = static_cast<float>(H - 1);
  pool_.parallel_for(N * H, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / H, h = r % H;
      const float* img = xd + n * H * W * C;
      for (int64_t w = 0; w < W; ++w) {
        const float* f = fd + (r * W + w) * Cf + flow_channel;
        // grid_sample's border mode clips the source coordinate to the image before sampling. A NaN
        // flow (broken weights) lands on the edge, as CUDA's fmaxf puts it, instead of indexing out.
        float ix = static_cast<float>(w) + f[0], iy = static_cast<float>(h) + f[1];
        ix = ix >= 0.0f ? std::min(ix, xmax) : 0.0f;
        iy = iy >= 0.0f ? std::min(iy, ymax) : 0.0f;
        const float fx = std::floor(ix), fy = std::floor(iy);
        const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
        const float nw = (fx + 1.0f - ix) * (fy + 1.0f - iy), ne = (ix - fx) * (fy + 1.0f - iy);
        const float sw = (fx + 1.0f - ix) * (iy - fy), se = (ix - fx) * (iy - fy);
        // A neighbour past the last row/column has weight zero (the coordinate sits on the edge).
        const bool in_x = x0 + 1 < W, in_y = y0 + 1 < H;
        const float* p00 = img + (y0 * W + x0) * C;
        const float* p01 = in_x ? p00 + C : nullptr;
        const float* p10 = in_y ? p00 + W * C : nullptr;
        const float* p11 = in_x && in_y ? p00 + (W + 1) * C : nullptr;
        float* o = yd + (r * W + w) * C;
        for (int64_t c = 0; c < C; ++c) {
          float v = p00[c] * nw;
          if (p01) v += p01[c] * ne;
          if (p10) v += p10[c] * sw;
          if (p11) v += p11[c] * se;
          o[c] = v;
        }
      }
    }
  }, 2);
}

void CpuBackend::pixel_shuffle(const Tensor& x, int factor, Tensor& y) {
  const int64_t r = factor;
  WAN_CHECK(r >= 1 && x.rank() == 4 && x.dim(3) % (r * r) == 0 &&
                y.shape() == Shape({x.dim(0), x.dim(1) * r, x.dim(2) * r, x.dim(3) / (r * r)}),
            "pixel_shuffle: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), Cin = x.dim(3), C = Cin / (r * r);
  const float* xd = x.f32();
  float* yd = y.f32();
  pool_.parallel_for(N * H * r, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t n = q / (H * r), oh = q % (H * r), h = oh / r, i = oh % r;
      float* out = yd + q * W * r * C;
      for (int64_t ow = 0; ow < W * r; ++ow) {
        const float* in = xd + ((n * H + h) * W + ow / r) * Cin + i * r + ow % r;
        for (int64_t c = 0; c < C; ++c) out[ow * C + c] = in[c * r * r];
      }
    }
  }, 4);
}

void CpuBackend::leaky_relu(const Tensor& x, const LeakyReluParams& p, Tensor& y) {
  const int64_t C = x.dim(-1), n = x.numel();
  WAN_CHECK(y.numel() == n && (!p.residual || p.residual->numel() == n) && (!p.channel_scale || p.channel_scale->numel() == C),
            "leaky_relu: " + shape_str(x.shape()) + " -> " + shape_str(y.shape()));
  const float* xd = x.f32();
  const float* sd = p.channel_scale ? p.channel_scale->f32() : nullptr;
  const float* rd = p.residual ? p.residual->f32() : nullptr;
  float* yd = y.f32();
  const float slope = p.slope;
  pool_.parallel_for(n / C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r * C;
      for (int64_t c = 0; c < C; ++c) {
        float v = sd ? xd[o + c] * sd[c] : xd[o + c];
        if (rd) v += rd[o + c];
        yd[o + c] = v > 0.0f ? v : v * slope;
      }
    }
  }, std::max<int64_t>(1, 16384 / C));
}

void CpuBackend::copy_channels(const Tensor& src, const ChannelCopyParams& p, Tensor& dst) {
  const int64_t Cs = src.dim(-1), Cd = dst.dim(-1), P = pixels_of(src);
  WAN_CHECK(pixels_of(dst) == P && p.count >= 0 && p.src_offset >= 0 && p.dst_offset >= 0 && p.src_offset + p.count <= Cs &&
                p.dst_offset + p.count <= Cd && src.raw() != dst.raw(),
            "copy_channels: " + std::to_string(p.count) + " channels from " + shape_str(src.shape()) + " at " +
                std::to_string(p.src_offset) + " to " + shape_str(dst.shape()) + " at " + std::to_string(p.dst_offset));
  const float* sd = src.f32() + p.src_offset;
  float* dd = dst.f32() + p.dst_offset;
  const int64_t k = p.count;
  const float scale = p.scale;
  const bool acc = p.accumulate;
  pool_.parallel_for(P, [&](int64_t p0, int64_t p1) {
    for (int64_t q = p0; q < p1; ++q) {
      const float* s = sd + q * Cs;
      float* d = dd + q * Cd;
      if (acc) {
        for (int64_t i = 0; i < k; ++i) d[i] += s[i] * scale;
      } else if (scale == 1.0f) {
        // A pixel's few channels (3, 4, 9 here): a loop costs less than a memcpy call.
        for (int64_t i = 0; i < k; ++i) d[i] = s[i];
      } else {
        for (int64_t i = 0; i < k; ++i) d[i] = s[i] * scale;
      }
    }
  }, 4096);
}

void CpuBackend::mask_blend(const Tensor& a, const Tensor& b, const Tensor& mask, int mask_channel, Tensor& y) {
  const int64_t C = a.dim(-1), P = pixels_of(a), Cm = mask.dim(-1);
  WAN_CHECK(b.shape() == a.shape() && y.shape() == a.shape() && pixels_of(mask) == P && mask_channel >= 0 && mask_channel < Cm,
            "mask_blend: " + shape_str(a.shape()) + " with mask " + shape_str(mask.shape()));
  const float* ad = a.f32();
  const float* bd = b.f32();
  const float* md = mask.f32();
  float* yd = y.f32();
  pool_.parallel_for(P, [&](int64_t p0, int64_t p1) {
    for (int64_t q = p0; q < p1; ++q) {
      const float s = 1.0f / (1.0f + std::exp(-md[q * Cm + mask_channel]));
      for (int64_t c = 0; c < C; ++c) yd[q * C + c] = ad[q * C + c] * s + bd[q * C + c] * (1.0f - s);
    }
  }, 4096);
}

}  // namespace wan::cpu
