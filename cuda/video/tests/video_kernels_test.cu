// Standalone parity test of the video (VAE) kernels against straightforward host float32/float64
// references written from the definitions in cpp/ops/backend.h (the CPU backend's semantics).
// Not part of the addon: it has a main(). Whatever globs the addon's CUDA sources must skip every
// `cuda/**/tests/` folder (the same rule as cuda/attention/tests/).
//
//   nvcc -std=c++17 -O3 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -I. \
//     cuda/video/tests/video_kernels_test.cu cuda/video/*.cu -o video_kernels_test
//   ./video_kernels_test            # parity cases; exit 0 all pass, 1 a failure, 2 no device
//   ./video_kernels_test --bench    # also times the conv at the VAE decoder's 480p shapes
//
// The conv is compared twice: against a reference fed the same bf16-rounded activations and
// weights (only the summation order differs, so the bound is tight and any index error shows), and
// against the float32 activations (the bf16 bound a whole backend op is held to).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "cuda/video/conv3d_gather.cuh"
#include "cuda/video/video_kernels.h"
#include "cuda/video/video_layout_index.cuh"

using namespace wan::cuda;

namespace {

int g_failures = 0;
bool g_have_device = false;  // without one, only the host checks and emulations run

void report(const std::string& name, double rel, double bound) {
  const bool pass = std::isfinite(rel) && rel <= bound;
  if (!pass) ++g_failures;
  std::printf("%-4s %-58s rel_l2 %.3e  bound %.1e\n", pass ? "ok" : "FAIL", name.c_str(), rel, bound);
}

void expect(bool cond, const std::string& what) {
  if (!cond) ++g_failures;
  std::printf("%-4s %s\n", cond ? "ok" : "FAIL", what.c_str());
}

#define CUDA_OK(expr)                                                                         \
  do {                                                                                        \
    const cudaError_t e_ = (expr);                                                            \
    if (e_ != cudaSuccess) {                                                                  \
      std::printf("FAIL %s: %s (%s:%d)\n", #expr, cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

double rel_l2(const std::vector<float>& got, const std::vector<double>& ref) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = got[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (den == 0.0) return num == 0.0 ? 0.0 : INFINITY;
  return std::sqrt(num / den);
}

std::mt19937 g_rng(1234);
std::vector<float> random_vec(size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g_rng);
  return v;
}

uint16_t to_bf16(float f) {  // round to nearest even, as __floats2bfloat162_rn
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
float round_bf16(float f) { return from_bf16(to_bf16(f)); }

template <typename T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t n = 0;
  DeviceBuffer() = default;
  explicit DeviceBuffer(const std::vector<T>& host) : n(host.size()) {
    CUDA_OK(cudaMalloc(&ptr, std::max<size_t>(1, n) * sizeof(T)));
    if (n) CUDA_OK(cudaMemcpy(ptr, host.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr); }
  std::vector<T> download() const {
    std::vector<T> host(n);
    if (n) CUDA_OK(cudaMemcpy(host.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
};

// ------------------------------------------------------------------------------------------ conv3d

struct ConvCase {
  std::string name;
  int T, P, H, W, Cin, Cout;
  int kt, kh, kw;
  int st = 1, sh = 1, sw = 1;
  int pt = 0, pb = 0, pl = 0, pr = 0;
  int pad_front = 0;
  bool accumulate = false;
  int bias = 1;       // 0 none, 1 f32, 2 bf16
  int w_ld_pad = 0;   // extra zero columns per weight row
};

// y[o] = sum over taps of the frame sequence (pad_front zeros, past, x) + bias (+ y when accumulating),
// straight from backend.h's definition; `xr`/`pr` are the activations as the reference sees them.
std::vector<double> ref_conv3d(const ConvCase& c, const std::vector<float>& xr, const std::vector<float>& pr,
                               const std::vector<float>& w, int64_t w_ld, const std::vector<float>& bias,
                               const std::vector<float>& y0, int To, int Ho, int Wo) {
  std::vector<double> y(static_cast<size_t>(To) * Ho * Wo * c.Cout);
  const int64_t frame = int64_t{c.H} * c.W * c.Cin;
  for (int to = 0; to < To; ++to)
    for (int ho = 0; ho < Ho; ++ho)
      for (int wo = 0; wo < Wo; ++wo)
        for (int o = 0; o < c.Cout; ++o) {
          double acc = 0.0;
          for (int dt = 0; dt < c.kt; ++dt) {
            const int s = to * c.st + dt;
            if (s < c.pad_front) continue;
            const int f = s - c.pad_front;
            const float* fr = f < c.P ? pr.data() + f * frame : xr.data() + (f - c.P) * frame;
            for (int dh = 0; dh < c.kh; ++dh) {
              const int hi = ho * c.sh + dh - c.pt;
              if (hi < 0 || hi >= c.H) continue;
              for (int dw = 0; dw < c.kw; ++dw) {
                const int wi = wo * c.sw + dw - c.pl;
                if (wi < 0 || wi >= c.W) continue;
                const float* px = fr + (int64_t{hi} * c.W + wi) * c.Cin;
                const float* wr = w.data() + o * w_ld + ((dt * c.kh + dh) * c.kw + dw) * c.Cin;
                for (int ci = 0; ci < c.Cin; ++ci) acc += double(px[ci]) * wr[ci];
              }
            }
          }
          const size_t i = ((size_t(to) * Ho + ho) * Wo + wo) * c.Cout + o;
          y[i] = acc + (bias.empty() ? 0.0 : bias[o]) + (c.accumulate ? y0[i] : 0.0);
        }
  return y;
}

Conv3dKernelParams conv_params(const ConvCase& c);

void run_conv_case(const ConvCase& c) {
  Conv3dKernelParams p = conv_params(c);
  const int To = conv3d_out_frames(p), Ho = conv3d_out_height(p), Wo = conv3d_out_width(p);
  const int64_t K = int64_t{c.kt} * c.kh * c.kw * c.Cin, w_ld = K + c.w_ld_pad;

  const std::vector<float> x = random_vec(size_t(c.T) * c.H * c.W * c.Cin);
  const std::vector<float> past = random_vec(size_t(c.P) * c.H * c.W * c.Cin);
  // Weights at about 1/sqrt(K) like a trained conv, so the output is O(1).
  std::vector<float> w = random_vec(size_t(c.Cout) * w_ld, -1.0f / std::sqrt(float(K)), 1.0f / std::sqrt(float(K)));
  std::vector<uint16_t> wb(w.size());
  for (int64_t o = 0; o < c.Cout; ++o)
    for (int64_t k = 0; k < w_ld; ++k) {
      const size_t i = o * w_ld + k;
      if (k >= K) w[i] = 0.0f;  // the padding columns the contract requires to be zero
      wb[i] = to_bf16(w[i]);
      w[i] = from_bf16(wb[i]);  // the backend's weights are bf16: both references use them
    }
  std::vector<float> bias = c.bias ? random_vec(c.Cout) : std::vector<float>();
  std::vector<uint16_t> bias_b(bias.size());
  for (size_t i = 0; i < bias.size(); ++i) {
    bias_b[i] = to_bf16(bias[i]);
    if (c.bias == 2) bias[i] = from_bf16(bias_b[i]);
  }
  const std::vector<float> y0 = random_vec(size_t(To) * Ho * Wo * c.Cout);

  DeviceBuffer<float> dx(x), dpast(past), dbias(bias), dy(y0);
  DeviceBuffer<uint16_t> dw(wb), dbias_b(bias_b);
  p.x = dx.ptr;
  p.past = c.P ? dpast.ptr : nullptr;
  p.w = dw.ptr;
  p.w_ld = w_ld;
  p.bias_f32 = c.bias == 1 ? dbias.ptr : nullptr;
  p.bias_bf16 = c.bias == 2 ? dbias_b.ptr : nullptr;
  p.y = dy.ptr;
  const char* why = video_params_error(p);
  if (why) {
    expect(false, c.name + ": parameters refused: " + why);
    return;
  }
  CUDA_OK(static_cast<cudaError_t>(launch_conv3d(p, nullptr)));
  CUDA_OK(cudaDeviceSynchronize());
  const std::vector<float> got = dy.download();

  std::vector<float> xb(x), pb(past);
  for (auto& v : xb) v = round_bf16(v);
  for (auto& v : pb) v = round_bf16(v);
  const auto ref_same_inputs = ref_conv3d(c, xb, pb, w, w_ld, bias, y0, To, Ho, Wo);
  const auto ref_f32 = ref_conv3d(c, x, past, w, w_ld, bias, y0, To, Ho, Wo);
  report("conv3d " + c.name + " (bf16 inputs in the reference)", rel_l2(got, ref_same_inputs), 1e-4);
  report("conv3d " + c.name + " (f32 activations)", rel_l2(got, ref_f32), 1e-2);
}

Conv3dKernelParams conv_params(const ConvCase& c) {
  Conv3dKernelParams p;
  p.T = c.T, p.P = c.P, p.H = c.H, p.W = c.W, p.Cin = c.Cin, p.Cout = c.Cout;
  p.kt = c.kt, p.kh = c.kh, p.kw = c.kw;
  p.stride_t = c.st, p.stride_h = c.sh, p.stride_w = c.sw;
  p.pad_top = c.pt, p.pad_bottom = c.pb, p.pad_left = c.pl, p.pad_right = c.pr;
  p.pad_front = c.pad_front;
  p.accumulate = c.accumulate;
  return p;
}

// The kernel's gather (conv3d_gather.cuh) on the host, against an im2col walked with nested loops
// (no divisions): every A[m, k] of the problem, plus the property the 16-byte copies rely on (four
// columns k..k+3, k % 4 == 0, are four consecutive floats or all zero when Cin % 4 == 0).
void check_conv_gather_on_host(const ConvCase& c) {
  using namespace wan::cuda::video_detail;
  const std::vector<float> x = random_vec(size_t(c.T) * c.H * c.W * c.Cin);
  const std::vector<float> past = random_vec(size_t(c.P) * c.H * c.W * c.Cin);
  std::vector<float> y(1);
  std::vector<uint16_t> w(1);
  Conv3dKernelParams p = conv_params(c);
  p.x = x.empty() ? nullptr : x.data();
  p.past = past.empty() ? nullptr : past.data();
  p.w = w.data();
  p.y = y.data();
  if (const char* why = video_params_error(p)) {
    expect(false, "gather " + c.name + ": parameters refused: " + why);
    return;
  }
  const ConvArgs a = make_conv_args(p);
  const int To = conv3d_out_frames(p), Ho = conv3d_out_height(p), Wo = conv3d_out_width(p);
  const int64_t frame = int64_t{c.H} * c.W * c.Cin;
  int64_t wrong = 0, checked = 0, split = 0;
  int m = 0;
  for (int to = 0; to < To; ++to)
    for (int ho = 0; ho < Ho; ++ho)
      for (int wo = 0; wo < Wo; ++wo, ++m) {
        const int4 origin = conv_row_origin(a, m);
        int k = 0;
        for (int dt = 0; dt < c.kt; ++dt)
          for (int dh = 0; dh < c.kh; ++dh)
            for (int dw = 0; dw < c.kw; ++dw)
              for (int ci = 0; ci < c.Cin; ++ci, ++k) {
                const int s = to * c.st + dt, hi = ho * c.sh + dh - c.pt, wi = wo * c.sw + dw - c.pl;
                const bool inside = s >= c.pad_front && hi >= 0 && hi < c.H && wi >= 0 && wi < c.W;
                float want = 0.0f;
                if (inside) {
                  const int f = s - c.pad_front;
                  const float* fr = f < c.P ? past.data() + f * frame : x.data() + (f - c.P) * frame;
                  want = fr[(int64_t{hi} * c.W + wi) * c.Cin + ci];
                }
                const float* src = conv_source(a, origin, conv_tap(a, k));
                wrong += (src != nullptr) != inside || (src && *src != want);
                ++checked;
                if (c.Cin % 4 == 0 && k % 4 == 0) {
                  for (int j = 1; j < 4; ++j) {
                    const float* sj = conv_source(a, origin, conv_tap(a, k + j));
                    split += src ? sj != src + j : sj != nullptr;
                  }
                }
              }
        // The zero tail of the last K step and the rows past M read nothing.
        for (int kk = a.K; kk < a.K + 32; ++kk) wrong += conv_source(a, origin, conv_tap(a, kk)) != nullptr;
      }
  for (int mm = a.M; mm < a.M + 128; ++mm)
    for (int kk = 0; kk < a.K; ++kk) wrong += conv_source(a, conv_row_origin(a, mm), conv_tap(a, kk)) != nullptr;
  expect(m == a.M && wrong == 0 && split == 0,
         "conv3d gather on the host, " + c.name + ": " + std::to_string(checked) + " taps, " +
             std::to_string(wrong) + " wrong, " + std::to_string(split) + " split 16-byte copies");
}

std::vector<ConvCase> conv_case_list() {
  std::vector<ConvCase> cases;
  auto add = [&](ConvCase c) { cases.push_back(c); };
  // name, T, P, H, W, Cin, Cout, kt, kh, kw
  ConvCase c;
  c = {"rgb in 3x3x3 Cin3 Cout96 causal", 5, 0, 9, 11, 3, 96, 3, 3, 3};
  c.pt = c.pb = c.pl = c.pr = 1, c.pad_front = 2;
  add(c);
  c = {"Cin12 Cout160 past2 acc bf16-bias", 2, 2, 8, 13, 12, 160, 3, 3, 3};
  c.pt = c.pb = c.pl = c.pr = 1, c.accumulate = true, c.bias = 2;
  add(c);
  c = {"Cin12 Cout48 w_ld padded to 8", 3, 0, 6, 7, 12, 48, 3, 3, 3};
  c.pt = c.pb = c.pl = c.pr = 1, c.pad_front = 2, c.w_ld_pad = 4;
  add(c);
  c = {"pointwise 1x1x1 Cin16 Cout48 no bias", 3, 0, 7, 5, 16, 48, 1, 1, 1};
  c.bias = 0;
  add(c);
  c = {"down 1x3x3 s2 pad(0,1,0,1) Cin64 Cout64", 2, 0, 13, 11, 64, 64, 1, 3, 3};
  c.sh = c.sw = 2, c.pb = c.pr = 1;
  add(c);
  c = {"time down 3x1x1 st2 past1 Cin96 Cout96 acc", 4, 1, 5, 7, 96, 96, 3, 1, 1};
  c.st = 2, c.accumulate = true;
  add(c);
  c = {"time up 3x1x1 Cin32 Cout64 pad_front2", 3, 0, 4, 6, 32, 64, 3, 1, 1};
  c.pad_front = 2;
  add(c);
  c = {"head 3x3x3 Cin96 Cout3 past2", 2, 2, 10, 9, 96, 3, 3, 3, 3};
  c.pt = c.pb = c.pl = c.pr = 1;
  add(c);
  c = {"head 3x3x3 Cin96 Cout12 (Wan2.2 patchified)", 1, 2, 7, 6, 96, 12, 3, 3, 3};
  c.pt = c.pb = c.pl = c.pr = 1;
  add(c);
  c = {"odd Cout100 Cin40 pad_front1 past1", 3, 1, 6, 9, 40, 100, 3, 3, 3};
  c.pt = c.pb = c.pl = c.pr = 1, c.pad_front = 1;
  add(c);
  c = {"odd Cin7 Cout33 asymmetric pads s(1,2,1)", 3, 0, 9, 10, 7, 33, 3, 3, 3};
  c.sh = 2, c.pt = 2, c.pb = 0, c.pl = 0, c.pr = 2, c.pad_front = 2;
  add(c);
  c = {"first output all in zero frames (bias only)", 2, 0, 5, 4, 8, 24, 3, 3, 3};
  c.pt = c.pb = c.pl = c.pr = 1, c.pad_front = 3;
  add(c);
  c = {"x empty, past only", 0, 3, 5, 6, 16, 32, 3, 3, 3};
  c.pt = c.pb = c.pl = c.pr = 1;
  add(c);
  c = {"Cin1 Cout1 1x1x1", 2, 0, 3, 5, 1, 1, 1, 1, 1};
  add(c);
  c = {"multi-tile Cin128 Cout256 past2 acc", 1, 2, 20, 37, 128, 256, 3, 3, 3};
  c.pt = c.pb = c.pl = c.pr = 1, c.accumulate = true;
  add(c);
  return cases;
}

// ---------------------------------------------------------------------------------- channel norm

void norm_case(int64_t rows, int C, bool silu, bool bf16_gamma, bool in_place) {
  std::vector<float> x = random_vec(size_t(rows) * C, -3.0f, 3.0f);
  for (int c = 0; c < C; ++c) x[c] = 0.0f;  // an all-zero pixel must stay zero (norm floor 1e-12)
  std::vector<float> gamma = random_vec(C, 0.5f, 1.5f);
  std::vector<uint16_t> gamma_b(C);
  for (int c = 0; c < C; ++c) {
    gamma_b[c] = to_bf16(gamma[c]);
    if (bf16_gamma) gamma[c] = from_bf16(gamma_b[c]);
  }
  std::vector<double> ref(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0.0;
    for (int c = 0; c < C; ++c) ss += double(x[r * C + c]) * x[r * C + c];
    const double s = std::sqrt(double(C)) / std::max(std::sqrt(ss), 1e-12);
    for (int c = 0; c < C; ++c) {
      double v = x[r * C + c] * s * gamma[c];
      if (silu) v = v / (1.0 + std::exp(-v));
      ref[r * C + c] = v;
    }
  }
  DeviceBuffer<float> dx(x), dg(gamma), dy(std::vector<float>(x.size(), NAN));
  DeviceBuffer<uint16_t> dgb(gamma_b);
  ChannelRmsNormKernelParams p;
  p.x = dx.ptr;
  p.y = in_place ? dx.ptr : dy.ptr;
  p.gamma_f32 = bf16_gamma ? nullptr : dg.ptr;
  p.gamma_bf16 = bf16_gamma ? dgb.ptr : nullptr;
  p.rows = rows;
  p.C = C;
  p.silu = silu;
  CUDA_OK(static_cast<cudaError_t>(launch_channel_rms_norm(p, nullptr)));
  CUDA_OK(cudaDeviceSynchronize());
  const auto got = in_place ? dx.download() : dy.download();
  char name[160];
  std::snprintf(name, sizeof name, "channel_rms_norm rows %lld C %d%s%s%s", (long long)rows, C, silu ? " silu" : "",
                bf16_gamma ? " bf16-gamma" : "", in_place ? " in-place" : "");
  report(name, rel_l2(got, ref), 1e-5);
}

// ----------------------------------------------------------------------------------- layout ops

std::vector<double> as_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

void upsample_case(int T, int H, int W, int C) {
  const auto x = random_vec(size_t(T) * H * W * C);
  std::vector<float> ref(size_t(T) * 4 * H * W * C);
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < 2 * H; ++h)
      for (int w = 0; w < 2 * W; ++w)
        for (int c = 0; c < C; ++c)
          ref[((size_t(t) * 2 * H + h) * 2 * W + w) * C + c] = x[((size_t(t) * H + h / 2) * W + w / 2) * C + c];
  const std::string name = "upsample_nearest_2x " + std::to_string(T) + "x" + std::to_string(H) + "x" +
                           std::to_string(W) + "x" + std::to_string(C);
  {  // the kernel's index math on the host, in the units the launcher picks (float4 when C % 4 == 0)
    using namespace wan::cuda::video_detail;
    std::vector<float> emu(ref.size(), NAN);
    const int v = C % 4 == 0 ? 4 : 1;
    for (int64_t i = 0; i < int64_t(ref.size()) / v; ++i)
      std::memcpy(&emu[i * v], &x[upsample_source(i, H, W, C / v) * v], v * sizeof(float));
    report(name + " [host emulation]", rel_l2(emu, as_double(ref)), 0.0);
  }
  if (!g_have_device) return;
  DeviceBuffer<float> dx(x), dy(std::vector<float>(ref.size(), NAN));
  Upsample2xKernelParams p;
  p.x = dx.ptr, p.y = dy.ptr, p.T = T, p.H = H, p.W = W, p.C = C;
  CUDA_OK(static_cast<cudaError_t>(launch_upsample_nearest_2x(p, nullptr)));
  CUDA_OK(cudaDeviceSynchronize());
  report(name, rel_l2(dy.download(), as_double(ref)), 0.0);
}

void permute_case(std::vector<int64_t> dims, std::vector<int> perm) {
  const int r = static_cast<int>(dims.size());
  int64_t n = 1;
  for (auto d : dims) n *= d;
  const auto x = random_vec(n);
  // Walk the output in order, carrying its coordinates; the source index from the input strides.
  std::vector<int64_t> in_stride(r, 1), out_dim(r), coord(r, 0);
  for (int i = r - 2; i >= 0; --i) in_stride[i] = in_stride[i + 1] * dims[i + 1];
  for (int i = 0; i < r; ++i) out_dim[i] = dims[perm[i]];
  std::vector<float> ref(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t src = 0;
    for (int d = 0; d < r; ++d) src += coord[d] * in_stride[perm[d]];
    ref[i] = x[src];
    for (int d = r - 1; d >= 0; --d) {
      if (++coord[d] < out_dim[d]) break;
      coord[d] = 0;
    }
  }
  PermuteKernelParams p;
  p.rank = r;
  std::string name = "permute [";
  for (int i = 0; i < r; ++i) {
    p.dims[i] = dims[i];
    p.perm[i] = perm[i];
    name += std::to_string(dims[i]) + (i + 1 < r ? "," : "] perm (");
  }
  for (int i = 0; i < r; ++i) name += std::to_string(perm[i]) + (i + 1 < r ? "," : ")");
  {  // the kernel's index math on the host, float4 units where the launcher would use them
    using namespace wan::cuda::video_detail;
    const PermuteArgs a = make_permute_args(p, true);
    const int v = a.vec4 ? 4 : 1;
    std::vector<float> emu(n, NAN);
    for (int64_t i = 0; i < a.n; ++i) std::memcpy(&emu[i * v], &x[permute_source(i, a) * v], v * sizeof(float));
    report(name + (a.vec4 ? " [host emulation, float4]" : " [host emulation]"), rel_l2(emu, as_double(ref)), 0.0);
  }
  if (!g_have_device) return;
  DeviceBuffer<float> dx(x), dy(std::vector<float>(n, NAN));
  p.x = dx.ptr, p.y = dy.ptr;
  CUDA_OK(static_cast<cudaError_t>(launch_permute(p, nullptr)));
  CUDA_OK(cudaDeviceSynchronize());
  report(name, rel_l2(dy.download(), as_double(ref)), 0.0);
}

// Folded channel j = c * factor + (dt*fs + dh)*fs + dw of block (to, ho, wo); averaged in groups.
void avg_down_case(int T, int H, int W, int Cin, int Cout, int ft, int fs, bool accumulate) {
  const auto x = random_vec(size_t(T) * H * W * Cin);
  const int pad = (ft - T % ft) % ft, To = (T + pad) / ft, Ho = H / fs, Wo = W / fs, factor = ft * fs * fs;
  const int group = Cin * factor / Cout;
  const auto y0 = random_vec(size_t(To) * Ho * Wo * Cout);
  std::vector<double> ref(y0.size());
  for (int to = 0; to < To; ++to)
    for (int ho = 0; ho < Ho; ++ho)
      for (int wo = 0; wo < Wo; ++wo)
        for (int o = 0; o < Cout; ++o) {
          double sum = 0.0;
          for (int j = o * group; j < (o + 1) * group; ++j) {
            const int c = j / factor, dt = (j % factor) / (fs * fs), dh = (j % (fs * fs)) / fs, dw = j % fs;
            const int t = to * ft + dt - pad;  // leading zero frames pad T to a multiple of ft
            if (t >= 0) sum += x[((size_t(t) * H + ho * fs + dh) * W + wo * fs + dw) * Cin + c];
          }
          const size_t i = ((size_t(to) * Ho + ho) * Wo + wo) * Cout + o;
          ref[i] = sum / group + (accumulate ? y0[i] : 0.0);
        }
  SpaceTimeKernelParams p;
  p.T = T, p.H = H, p.W = W, p.Cin = Cin, p.Cout = Cout;
  p.factor_t = ft, p.factor_s = fs, p.accumulate = accumulate;
  char name[160];
  std::snprintf(name, sizeof name, "avg_down_3d %dx%dx%dx%d -> C%d ft%d fs%d%s", T, H, W, Cin, Cout, ft, fs,
                accumulate ? " acc" : "");
  {  // the kernel's index math on the host
    using namespace wan::cuda::video_detail;
    SpaceTimeKernelParams hp = p;
    hp.x = x.data();
    const AvgDownArgs a = make_avg_down_args(hp);
    std::vector<float> emu(y0);
    for (int64_t i = 0; i < int64_t(emu.size()); ++i) {
      const float mean = avg_down_sum(hp, a, i) * a.inv;
      emu[i] = accumulate ? emu[i] + mean : mean;
    }
    report(std::string(name) + " [host emulation]", rel_l2(emu, ref), 1e-6);
  }
  if (!g_have_device) return;
  DeviceBuffer<float> dx(x), dy(y0);
  p.x = dx.ptr, p.y = dy.ptr;
  CUDA_OK(static_cast<cudaError_t>(launch_avg_down_3d(p, nullptr)));
  CUDA_OK(cudaDeviceSynchronize());
  report(name, rel_l2(dy.download(), ref), 1e-6);
}

// Output (tq, hq, wq, o), tq counted before dropping: input pixel (tq/ft, hq/fs, wq/fs), channel
// (o * factor + sub) / repeats, sub the position inside the ft x fs x fs block.
void dup_up_case(int T, int H, int W, int Cin, int Cout, int ft, int fs, int drop, bool accumulate) {
  const auto x = random_vec(size_t(T) * H * W * Cin);
  const int To = T * ft - drop, Ho = H * fs, Wo = W * fs, factor = ft * fs * fs, repeats = Cout * factor / Cin;
  const auto y0 = random_vec(size_t(To) * Ho * Wo * Cout);
  std::vector<double> ref(y0.size());
  for (int t = 0; t < To; ++t)
    for (int h = 0; h < Ho; ++h)
      for (int w = 0; w < Wo; ++w)
        for (int o = 0; o < Cout; ++o) {
          const int tq = t + drop, sub = ((tq % ft) * fs + h % fs) * fs + w % fs;
          const size_t i = ((size_t(t) * Ho + h) * Wo + w) * Cout + o;
          ref[i] = x[((size_t(tq / ft) * H + h / fs) * W + w / fs) * Cin + (o * factor + sub) / repeats] +
                   (accumulate ? double(y0[i]) : 0.0);
        }
  SpaceTimeKernelParams p;
  p.T = T, p.H = H, p.W = W, p.Cin = Cin, p.Cout = Cout;
  p.factor_t = ft, p.factor_s = fs, p.drop_frames = drop, p.accumulate = accumulate;
  char name[160];
  std::snprintf(name, sizeof name, "dup_up_3d %dx%dx%dx%d -> C%d ft%d fs%d drop%d%s", T, H, W, Cin, Cout, ft, fs,
                drop, accumulate ? " acc" : "");
  const double bound = accumulate ? 1e-7 : 0.0;
  {  // the kernel's index math on the host
    std::vector<float> emu(y0);
    for (int64_t i = 0; i < int64_t(emu.size()); ++i) {
      const float v = x[wan::cuda::video_detail::dup_up_source(p, Ho, Wo, repeats, i)];
      emu[i] = accumulate ? emu[i] + v : v;
    }
    report(std::string(name) + " [host emulation]", rel_l2(emu, ref), bound);
  }
  if (!g_have_device) return;
  DeviceBuffer<float> dx(x), dy(y0);
  p.x = dx.ptr, p.y = dy.ptr;
  CUDA_OK(static_cast<cudaError_t>(launch_dup_up_3d(p, nullptr)));
  CUDA_OK(cudaDeviceSynchronize());
  report(name, rel_l2(dy.download(), ref), bound);
}

// ---------------------------------------------------------------------- refusals (no device needed)

void refusal_cases() {
  Conv3dKernelParams c;
  float dummy_f[4] = {};
  uint16_t dummy_w[4] = {};
  c.x = dummy_f, c.w = dummy_w, c.y = dummy_f, c.T = 1, c.H = 1, c.W = 1, c.Cin = 1, c.Cout = 1;
  expect(video_params_error(c) == nullptr, "conv3d: a valid 1x1x1 problem is accepted");
  auto refused = [](const Conv3dKernelParams& p, const char* field, const std::string& what) {
    const char* e = video_params_error(p);
    expect(e && std::strstr(e, field) && launch_conv3d(p, nullptr) == int(cudaErrorInvalidValue),
           "conv3d refuses " + what + (e ? std::string(": ") + e : std::string()));
  };
  Conv3dKernelParams b = c;
  b.Cin = 0;
  refused(b, "Cin", "Cin = 0");
  b = c, b.kt = 3;
  refused(b, "kt", "fewer frames than kt");
  b = c, b.w_ld = 0, b.kh = b.kw = 1, b.Cin = 4, b.w_ld = 3;
  refused(b, "w_ld", "w_ld < K");
  b = c, b.bias_f32 = dummy_f, b.bias_bf16 = dummy_w;
  refused(b, "bias", "two biases");
  b = c, b.P = 2;
  refused(b, "past", "P > 0 without past");
  b = c, b.stride_h = 0;
  refused(b, "stride", "stride 0");

  ChannelRmsNormKernelParams n;
  n.x = n.y = dummy_f, n.rows = 1, n.C = 4;
  const char* e = video_params_error(n);
  expect(e && std::strstr(e, "gamma") && launch_channel_rms_norm(n, nullptr) == int(cudaErrorInvalidValue),
         "channel_rms_norm refuses a missing gamma");
  PermuteKernelParams pm;
  pm.x = pm.y = dummy_f, pm.rank = 2, pm.dims[0] = pm.dims[1] = 2, pm.perm[0] = pm.perm[1] = 1;
  e = video_params_error(pm);
  expect(e && std::strstr(e, "perm") && launch_permute(pm, nullptr) == int(cudaErrorInvalidValue),
         "permute refuses a repeated axis");
  pm.rank = 9;
  expect(video_params_error(pm) != nullptr, "permute refuses rank 9");
  SpaceTimeKernelParams st;
  st.x = st.y = dummy_f, st.T = 2, st.H = 2, st.W = 2, st.Cin = 3, st.Cout = 5, st.factor_t = 2, st.factor_s = 2;
  e = video_params_error_avg_down(st);
  expect(e && std::strstr(e, "Cout") && launch_avg_down_3d(st, nullptr) == int(cudaErrorInvalidValue),
         "avg_down_3d refuses groups that are not whole");
  st.Cin = 7, st.Cout = 3;
  e = video_params_error_dup_up(st);
  expect(e && std::strstr(e, "Cin") && launch_dup_up_3d(st, nullptr) == int(cudaErrorInvalidValue),
         "dup_up_3d refuses repeats that are not whole");
  st.Cin = 8, st.Cout = 4, st.drop_frames = 5;
  expect(video_params_error_dup_up(st) != nullptr, "dup_up_3d refuses drop_frames > T * factor_t");
}

// ---------------------------------------------------------------------------------------- bench

// The VAE decoder's heaviest convs at 480p (one output frame per call, as the causal cache feeds
// them), timed with events. Only printed; the numbers are the device's, not asserted.
void bench() {
  struct Shape {
    const char* name;
    int H, W, Cin, Cout;
  } shapes[] = {{"decoder 3x3x3 96->96 at 480x832", 480, 832, 96, 96},
                {"decoder 3x3x3 192->192 at 240x416", 240, 416, 192, 192},
                {"decoder 3x3x3 384->384 at 120x208", 120, 208, 384, 384},
                {"head 3x3x3 96->3 at 480x832", 480, 832, 96, 3}};
  for (const auto& s : shapes) {
    Conv3dKernelParams p;
    p.T = 1, p.P = 2, p.H = s.H, p.W = s.W, p.Cin = s.Cin, p.Cout = s.Cout;
    p.kt = p.kh = p.kw = 3, p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
    const int64_t K = 27 * int64_t{s.Cin}, M = int64_t{s.H} * s.W;
    DeviceBuffer<float> x(std::vector<float>(size_t(s.H) * s.W * s.Cin, 0.5f));
    DeviceBuffer<float> past(std::vector<float>(size_t(2) * s.H * s.W * s.Cin, 0.25f));
    DeviceBuffer<float> y(std::vector<float>(size_t(M) * s.Cout, 0.0f));
    DeviceBuffer<uint16_t> w(std::vector<uint16_t>(size_t(s.Cout) * K, to_bf16(0.01f)));
    p.x = x.ptr, p.past = past.ptr, p.w = w.ptr, p.y = y.ptr;
    cudaEvent_t e0, e1;
    CUDA_OK(cudaEventCreate(&e0));
    CUDA_OK(cudaEventCreate(&e1));
    CUDA_OK(static_cast<cudaError_t>(launch_conv3d(p, nullptr)));  // warm-up
    const int reps = 10;
    CUDA_OK(cudaEventRecord(e0));
    for (int i = 0; i < reps; ++i) CUDA_OK(static_cast<cudaError_t>(launch_conv3d(p, nullptr)));
    CUDA_OK(cudaEventRecord(e1));
    CUDA_OK(cudaEventSynchronize(e1));
    float ms = 0.0f;
    CUDA_OK(cudaEventElapsedTime(&ms, e0, e1));
    ms /= reps;
    const double tflops = 2.0 * M * s.Cout * K / (ms * 1e-3) / 1e12;
    std::printf("bench %-40s %8.3f ms  %6.1f TFLOP/s (bf16 mma, dense-equivalent)\n", s.name, ms, tflops);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
  }
}

// Each runs its kernel's index math on the host, then (with a device) the kernel.
void layout_cases() {
  upsample_case(2, 5, 7, 12);
  upsample_case(3, 4, 3, 3);
  upsample_case(1, 1, 1, 1);

  permute_case({3, 4, 5, 2, 8}, {0, 3, 1, 2, 4});  // the Up3d frame interleave, float4 path
  permute_case({2, 3, 5, 2, 5}, {0, 3, 1, 2, 4});  // same, odd channels
  permute_case({7, 5, 9}, {0, 2, 1});             // the conv weight repack [Cout, Cin, taps] -> taps major
  permute_case({2, 3, 1, 2, 3, 2, 1, 2}, {7, 1, 5, 0, 3, 2, 6, 4});
  permute_case({2, 3, 1, 2, 3, 2, 1, 4}, {1, 5, 0, 3, 2, 6, 4, 7});  // rank 8, float4 path
  permute_case({11}, {0});

  avg_down_case(5, 6, 10, 8, 16, 2, 2, false);  // T padded with one leading zero frame
  avg_down_case(4, 7, 9, 6, 8, 1, 2, true);     // odd H, W floored; groups of 3
  avg_down_case(3, 4, 4, 12, 96, 2, 2, false);  // Cout > Cin (group 1)

  dup_up_case(3, 4, 5, 16, 8, 2, 2, 1, false);  // the first chunk drops its leading frame
  dup_up_case(2, 3, 3, 12, 6, 1, 2, 0, true);
  dup_up_case(2, 2, 3, 96, 24, 2, 2, 0, false);
}

}  // namespace

int main(int argc, char** argv) {
  const bool want_bench = argc > 1 && std::strcmp(argv[1], "--bench") == 0;
  int devices = 0;
  g_have_device = cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
  cudaGetLastError();  // a failed device query must not linger as the "last error" of a launch

  // ---- host checks: parameter refusals and the kernels' index math, no device needed
  refusal_cases();
  const std::vector<ConvCase> conv_cases = conv_case_list();
  for (const auto& c : conv_cases) check_conv_gather_on_host(c);
  layout_cases();
  if (!g_have_device) {
    std::printf("no CUDA device: only the host checks (refusals, conv gather, layout index emulation) ran, "
                "%d failure(s); the kernels themselves are untested\n",
                g_failures);
    return g_failures ? 1 : 2;
  }

  // ---- the kernels on the device
  cudaDeviceProp prop{};
  CUDA_OK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  if (prop.major < 8) {
    std::printf("FAIL the conv needs sm_80+ (bf16 mma.sync)\n");
    return 1;
  }
  for (const auto& c : conv_cases) run_conv_case(c);

  norm_case(37, 96, true, false, false);
  norm_case(19, 1024, false, true, false);
  norm_case(23, 3, true, false, false);
  norm_case(41, 50, true, true, false);
  norm_case(33, 384, true, false, true);

  if (want_bench) bench();

  std::printf("%s: %d failure(s)\n", g_failures ? "FAILED" : "PASSED", g_failures);
  return g_failures ? 1 : 0;
}
