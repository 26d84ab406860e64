// Data movement of the video VAE on the device: nearest 2x upsampling, permute, and Wan2.2's
// space/time folding shortcuts, with the index arithmetic of cpp/backends/cpu/cpu_video_layout.cpp.
// One thread per output element (or float4 of them when whole pixels allow), 64-bit indices: a
// decoded 480p chunk of 96 channels is past 2^31 elements' worth of bytes. These ops move memory
// and do no math, so they are bandwidth-bound; the grid-stride loops cap the grid at a few waves.
#include <algorithm>
#include <climits>
#include <cstdint>

#include <cuda_runtime.h>

#include "cuda/video/video_kernels.h"

namespace wan::cuda {
namespace video_detail {

constexpr int kLayoutThreads = 256;

static unsigned layout_blocks(int64_t n) {
  // Enough blocks to fill any current GPU several times over; the loops cover the rest.
  return static_cast<unsigned>(std::min<int64_t>((n + kLayoutThreads - 1) / kLayoutThreads, int64_t{1} << 20));
}

static bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

#define WAN_GRID_STRIDE(i, n)                                                                  \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// ---- upsample: output pixel (t, h2, w2) is input pixel (t, h2 / 2, w2 / 2). V = float or float4,
// CV = channels in units of V.
template <typename V>
__global__ void upsample_nearest_2x_kernel(const V* __restrict__ x, V* __restrict__ y, int64_t T, int64_t H,
                                           int64_t W, int64_t CV) {
  const int64_t n = T * 2 * H * 2 * W * CV;
  WAN_GRID_STRIDE(i, n) {
    const int64_t c = i % CV, pix = i / CV;
    const int64_t w2 = pix % (2 * W), th2 = pix / (2 * W);
    const int64_t h2 = th2 % (2 * H), t = th2 / (2 * H);
    y[i] = x[((t * H + h2 / 2) * W + w2 / 2) * CV + c];
  }
}

// ---- permute: output element i has coordinates (by out_dim, last fastest); its source offset is
// sum coord_d * src_stride[d], src_stride[d] = the input stride of input dim perm[d].
struct PermuteArgs {
  int64_t out_dim[8];
  int64_t src_stride[8];
  int64_t n;
  int rank;
};

template <typename V>
__global__ void permute_kernel(const V* __restrict__ x, V* __restrict__ y, const PermuteArgs a) {
  WAN_GRID_STRIDE(i, a.n) {
    int64_t rest = i, src = 0;
    for (int d = a.rank - 1; d >= 0; --d) {
      src += (rest % a.out_dim[d]) * a.src_stride[d];
      rest /= a.out_dim[d];
    }
    y[i] = x[src];
  }
}

// ---- avg_down_3d: output (to, ho, wo, o) averages folded channels j in [o*group, (o+1)*group),
// j = c * factor + (dt*fs + dh)*fs + dw, read from frame to*ft + dt - pad (zero when negative).
// The sum runs in the CPU backend's order and the mean is not fused into the residual add, so the
// two backends round alike.
__global__ void avg_down_3d_kernel(const SpaceTimeKernelParams p, int64_t To, int64_t Ho, int64_t Wo, int pad,
                                   int group, float inv) {
  const int64_t ft = p.factor_t, fs = p.factor_s, factor = ft * fs * fs, H = p.H, W = p.W, Cin = p.Cin;
  const int64_t n = To * Ho * Wo * p.Cout;
  WAN_GRID_STRIDE(i, n) {
    const int64_t o = i % p.Cout, q = i / p.Cout;
    const int64_t wo = q % Wo, ho = (q / Wo) % Ho, to = q / (Wo * Ho);
    float sum = 0.0f;
    for (int64_t j = o * group; j < (o + 1) * group; ++j) {
      const int64_t c = j / factor, sub = j % factor;
      const int64_t dt = sub / (fs * fs), dh = (sub / fs) % fs, dw = sub % fs;
      const int64_t t = to * ft + dt - pad;
      if (t >= 0) sum += p.x[((t * H + ho * fs + dh) * W + wo * fs + dw) * Cin + c];
    }
    const float mean = __fmul_rn(sum, inv);
    p.y[i] = p.accumulate ? p.y[i] + mean : mean;
  }
}

// ---- dup_up_3d: output (tq - drop, hq, wq, o) reads input pixel (tq/ft, hq/fs, wq/fs), channel
// (o * factor + sub) / repeats with sub = ((tq%ft)*fs + hq%fs)*fs + wq%fs.
__global__ void dup_up_3d_kernel(const SpaceTimeKernelParams p, int64_t To, int64_t Ho, int64_t Wo, int repeats) {
  const int64_t ft = p.factor_t, fs = p.factor_s, factor = ft * fs * fs, H = p.H, W = p.W, Cin = p.Cin;
  const int64_t n = To * Ho * Wo * p.Cout;
  WAN_GRID_STRIDE(i, n) {
    const int64_t o = i % p.Cout, q = i / p.Cout;
    const int64_t wq = q % Wo, hq = (q / Wo) % Ho, tq = q / (Wo * Ho) + p.drop_frames;
    const int64_t sub = ((tq % ft) * fs + hq % fs) * fs + wq % fs;
    const float v = p.x[(((tq / ft) * H + hq / fs) * W + wq / fs) * Cin + (o * factor + sub) / repeats];
    p.y[i] = p.accumulate ? p.y[i] + v : v;
  }
}

#undef WAN_GRID_STRIDE

}  // namespace video_detail

using namespace video_detail;

// ---- upsample_nearest_2x
const char* video_params_error(const Upsample2xKernelParams& p) {
  if (p.T < 0 || p.H < 0 || p.W < 0 || p.C <= 0) return "upsample_nearest_2x: T, H, W must be >= 0 and C > 0";
  if (int64_t{p.T} * p.H * p.W > 0 && (!p.x || !p.y)) return "upsample_nearest_2x: x or y is null";
  return nullptr;
}

int launch_upsample_nearest_2x(const Upsample2xKernelParams& p, void* stream) {
  if (video_params_error(p)) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t n = int64_t{p.T} * 4 * p.H * p.W * p.C;
  if (n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (p.C % 4 == 0 && aligned16(p.x) && aligned16(p.y)) {
    upsample_nearest_2x_kernel<float4><<<layout_blocks(n / 4), kLayoutThreads, 0, s>>>(
        reinterpret_cast<const float4*>(p.x), reinterpret_cast<float4*>(p.y), p.T, p.H, p.W, p.C / 4);
  } else {
    upsample_nearest_2x_kernel<float><<<layout_blocks(n), kLayoutThreads, 0, s>>>(p.x, p.y, p.T, p.H, p.W, p.C);
  }
  return static_cast<int>(cudaGetLastError());
}

// ---- permute
const char* video_params_error(const PermuteKernelParams& p) {
  if (p.rank < 1 || p.rank > 8) return "permute: rank must be in [1, 8]";
  bool seen[8] = {};
  int64_t n = 1;
  for (int i = 0; i < p.rank; ++i) {
    if (p.perm[i] < 0 || p.perm[i] >= p.rank || seen[p.perm[i]]) return "permute: perm is not a permutation";
    seen[p.perm[i]] = true;
    if (p.dims[i] < 0) return "permute: dims must be >= 0";
    n *= p.dims[i];
  }
  if (n > 0 && (!p.x || !p.y)) return "permute: x or y is null";
  return nullptr;
}

int launch_permute(const PermuteKernelParams& p, void* stream) {
  if (video_params_error(p)) return static_cast<int>(cudaErrorInvalidValue);
  const int r = p.rank;
  int64_t in_stride[8];
  in_stride[r - 1] = 1;
  for (int i = r - 2; i >= 0; --i) in_stride[i] = in_stride[i + 1] * p.dims[i + 1];
  PermuteArgs a{};
  a.rank = r;
  a.n = 1;
  for (int i = 0; i < r; ++i) {
    a.out_dim[i] = p.dims[p.perm[i]];
    a.src_stride[i] = in_stride[p.perm[i]];
    a.n *= a.out_dim[i];
  }
  if (a.n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  // The last dim stays last (the VAE's frame interleave [T,H,W,2,C] -> [T,2,H,W,C]): move float4s.
  if (p.perm[r - 1] == r - 1 && p.dims[r - 1] % 4 == 0 && aligned16(p.x) && aligned16(p.y)) {
    a.out_dim[r - 1] /= 4;
    for (int i = 0; i < r - 1; ++i) a.src_stride[i] /= 4;
    a.n /= 4;
    permute_kernel<float4><<<layout_blocks(a.n), kLayoutThreads, 0, s>>>(reinterpret_cast<const float4*>(p.x),
                                                                        reinterpret_cast<float4*>(p.y), a);
  } else {
    permute_kernel<float><<<layout_blocks(a.n), kLayoutThreads, 0, s>>>(p.x, p.y, a);
  }
  return static_cast<int>(cudaGetLastError());
}

// ---- avg_down_3d / dup_up_3d
namespace {
const char* space_time_common(const SpaceTimeKernelParams& p) {
  if (p.T < 0 || p.H < 0 || p.W < 0 || p.Cin <= 0 || p.Cout <= 0) return "T, H, W must be >= 0, Cin and Cout > 0";
  if (p.factor_t <= 0 || p.factor_s <= 0) return "factor_t and factor_s must be > 0";
  if (int64_t{p.factor_t} * p.factor_s * p.factor_s * std::max(p.Cin, p.Cout) > INT_MAX)
    return "channels times factors too large";
  return nullptr;
}
}  // namespace

const char* video_params_error_avg_down(const SpaceTimeKernelParams& p) {
  if (const char* e = space_time_common(p)) return e;
  const int64_t folded = int64_t{p.Cin} * p.factor_t * p.factor_s * p.factor_s;
  if (folded % p.Cout != 0) return "avg_down_3d: Cout must divide Cin * factor_t * factor_s^2";
  if (p.drop_frames != 0) return "avg_down_3d: drop_frames must be 0";
  if (int64_t{p.T} * p.H * p.W > 0 && (!p.x || !p.y)) return "avg_down_3d: x or y is null";
  return nullptr;
}

int launch_avg_down_3d(const SpaceTimeKernelParams& p, void* stream) {
  if (video_params_error_avg_down(p)) return static_cast<int>(cudaErrorInvalidValue);
  const int ft = p.factor_t, fs = p.factor_s;
  const int pad = (ft - p.T % ft) % ft;
  const int64_t To = (p.T + pad) / ft, Ho = p.H / fs, Wo = p.W / fs;
  const int64_t n = To * Ho * Wo * p.Cout;
  if (n == 0) return 0;
  const int group = static_cast<int>(int64_t{p.Cin} * ft * fs * fs / p.Cout);
  const float inv = 1.0f / static_cast<float>(group);
  avg_down_3d_kernel<<<layout_blocks(n), kLayoutThreads, 0, static_cast<cudaStream_t>(stream)>>>(p, To, Ho, Wo, pad,
                                                                                              group, inv);
  return static_cast<int>(cudaGetLastError());
}

const char* video_params_error_dup_up(const SpaceTimeKernelParams& p) {
  if (const char* e = space_time_common(p)) return e;
  const int64_t unfolded = int64_t{p.Cout} * p.factor_t * p.factor_s * p.factor_s;
  if (unfolded % p.Cin != 0) return "dup_up_3d: Cin must divide Cout * factor_t * factor_s^2";
  if (p.drop_frames < 0 || p.drop_frames > int64_t{p.T} * p.factor_t)
    return "dup_up_3d: drop_frames must be in [0, T * factor_t]";
  if (int64_t{p.T} * p.H * p.W > 0 && (!p.x || !p.y)) return "dup_up_3d: x or y is null";
  return nullptr;
}

int launch_dup_up_3d(const SpaceTimeKernelParams& p, void* stream) {
  if (video_params_error_dup_up(p)) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t To = int64_t{p.T} * p.factor_t - p.drop_frames, Ho = int64_t{p.H} * p.factor_s,
                Wo = int64_t{p.W} * p.factor_s;
  const int64_t n = To * Ho * Wo * p.Cout;
  if (n == 0) return 0;
  const int repeats = static_cast<int>(int64_t{p.Cout} * p.factor_t * p.factor_s * p.factor_s / p.Cin);
  dup_up_3d_kernel<<<layout_blocks(n), kLayoutThreads, 0, static_cast<cudaStream_t>(stream)>>>(p, To, Ho, Wo,
                                                                                            repeats);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace wan::cuda
