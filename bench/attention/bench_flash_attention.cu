// Times launch_flash_attention at the shapes given on the command line and prints one JSON object
// per shape on stdout (the driver, run_bench.py, merges them with the SDPA timings).
//
//   bench_flash_attention --shape B,H,Sq,Sk,D [--shape ...] [--out bf16|f32] [--min-ms 1000]
//                         [--path auto|portable|fp8] [--variant NAME]
//
// --path: auto = the dispatch's choice (the Hopper kernel on sm_90 with an sm_90a build), portable =
// the mma.sync kernel (allow_hopper = false), fp8 = the opt-in e4m3 path (its time includes the
// quantize kernel). --variant launches one tile configuration directly instead of the dispatcher's
// choice, to pick the default on a device: a portable head-128 one (kVariants) or a Hopper one
// (hopper::variants(), e.g. bf16-d128-n176-s2-pp). Each JSON line names the kernel that ran.
//
// Inputs are [B, S, H*D] bf16 filled on the device with a hash (no host transfer); the output is
// bf16 by default, like SDPA's, or f32 as the Wan backend uses it. TFLOP/s = 4*B*H*Sq*Sk*D / time.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "flash_attention.h"
#include "flash_fwd_launch.cuh"
#include "hopper_fwd.h"

namespace {

struct Shape {
  int batch, heads, seq_q, seq_k, head_dim;
};

__global__ void fill_random(uint16_t* x, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    const float u = (h & 0xffffff) * (1.f / 16777216.f) * 2.f - 1.f;  // [-1, 1)
    __nv_bfloat16 b = __float2bfloat16(u);
    x[i] = *reinterpret_cast<uint16_t*>(&b);
  }
}

using wan::cuda::FlashAttentionParams;
namespace fa = wan::cuda::fa;
using LaunchFn = cudaError_t (*)(const FlashAttentionParams&, cudaStream_t);

// Head-128 tile configurations: m = queries per CTA (16 per warp), n = keys per step, s = stages.
struct Variant {
  const char* name;
  LaunchFn fn;
  int smem;
};
const Variant kVariants[] = {
    {"m128n64s2", fa::launch_flash_fwd<fa::FlashFwdTiles<128, 64, 8, 2>>, fa::FlashFwdTiles<128, 64, 8, 2>::kSmemBytes},
    {"m128n64s3", fa::launch_flash_fwd<fa::FlashFwdTiles<128, 64, 8, 3>>, fa::FlashFwdTiles<128, 64, 8, 3>::kSmemBytes},
    {"m128n128s2", fa::launch_flash_fwd<fa::FlashFwdTiles<128, 128, 8, 2>>, fa::FlashFwdTiles<128, 128, 8, 2>::kSmemBytes},
    {"m128n32s4", fa::launch_flash_fwd<fa::FlashFwdTiles<128, 32, 8, 4>>, fa::FlashFwdTiles<128, 32, 8, 4>::kSmemBytes},
    {"m64n64s2", fa::launch_flash_fwd<fa::FlashFwdTiles<128, 64, 4, 2>>, fa::FlashFwdTiles<128, 64, 4, 2>::kSmemBytes},
};

#define CHECK(x)                                                                        \
  do {                                                                                  \
    cudaError_t e_ = (x);                                                               \
    if (e_ != cudaSuccess) {                                                            \
      std::fprintf(stderr, "CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (0)

}  // namespace

int main(int argc, char** argv) {
  std::vector<Shape> shapes;
  bool out_f32 = false;
  double min_ms = 1000;
  const Variant* variant = nullptr;
  const wan::cuda::hopper::Variant* hvariant = nullptr;
  std::string path_opt = "auto";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--shape") && i + 1 < argc) {
      Shape s;
      if (std::sscanf(argv[++i], "%d,%d,%d,%d,%d", &s.batch, &s.heads, &s.seq_q, &s.seq_k, &s.head_dim) != 5) {
        std::fprintf(stderr, "--shape wants B,H,Sq,Sk,D, got %s\n", argv[i]);
        return 2;
      }
      shapes.push_back(s);
    } else if (!std::strcmp(argv[i], "--out") && i + 1 < argc) {
      out_f32 = !std::strcmp(argv[++i], "f32");
    } else if (!std::strcmp(argv[i], "--variant") && i + 1 < argc) {
      ++i;
      for (const Variant& v : kVariants)
        if (!std::strcmp(argv[i], v.name)) variant = &v;
      int nh = 0;
      const wan::cuda::hopper::Variant* hv = wan::cuda::hopper::variants(&nh);
      for (int k = 0; k < nh; ++k)
        if (!std::strcmp(argv[i], hv[k].name)) hvariant = &hv[k];
      if (!variant && !hvariant) {
        std::fprintf(stderr, "unknown --variant %s\n", argv[i]);
        return 2;
      }
    } else if (!std::strcmp(argv[i], "--path") && i + 1 < argc) {
      path_opt = argv[++i];
      if (path_opt != "auto" && path_opt != "portable" && path_opt != "fp8") {
        std::fprintf(stderr, "--path wants auto, portable or fp8, got %s\n", path_opt.c_str());
        return 2;
      }
    } else if (!std::strcmp(argv[i], "--min-ms") && i + 1 < argc) {
      min_ms = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s --shape B,H,Sq,Sk,D [...] [--out bf16|f32] [--min-ms N]\n", argv[0]);
      return 2;
    }
  }
  if (shapes.empty()) shapes.push_back({1, 12, 32760, 32760, 128});

  int dev = 0, major = 0, minor = 0;
  CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, dev));
  major = prop.major;
  minor = prop.minor;
  std::fprintf(stderr, "device: %s (sm_%d%d)\n", prop.name, major, minor);

  for (const Shape& s : shapes) {
    const int64_t hd = static_cast<int64_t>(s.heads) * s.head_dim;
    const int64_t nq = s.batch * static_cast<int64_t>(s.seq_q) * hd;
    const int64_t nk = s.batch * static_cast<int64_t>(s.seq_k) * hd;
    uint16_t *q, *k, *v;
    void* out;
    CHECK(cudaMalloc(&q, nq * 2));
    CHECK(cudaMalloc(&k, nk * 2));
    CHECK(cudaMalloc(&v, nk * 2));
    CHECK(cudaMalloc(&out, nq * (out_f32 ? 4 : 2)));
    fill_random<<<1024, 256>>>(q, nq, 1u);
    fill_random<<<1024, 256>>>(k, nk, 2u);
    fill_random<<<1024, 256>>>(v, nk, 3u);
    CHECK(cudaGetLastError());

    FlashAttentionParams p;
    p.q = q;
    p.k = k;
    p.v = v;
    p.q_row_stride = p.k_row_stride = p.v_row_stride = p.out_row_stride = hd;
    p.out = out;
    p.out_f32 = out_f32;
    p.batch = s.batch;
    p.heads = s.heads;
    p.head_dim = s.head_dim;
    p.seq_q = s.seq_q;
    p.seq_k = s.seq_k;
    p.scale = 1.f / std::sqrt(static_cast<float>(s.head_dim));
    p.allow_hopper = path_opt != "portable";
    p.fp8 = path_opt == "fp8" || (hvariant && hvariant->fp8);
    const int sm = major * 10 + minor;
    if (const char* why = wan::cuda::flash_attention_unsupported(p, sm)) {
      std::fprintf(stderr, "unsupported: %s\n", why);
      return 1;
    }
    if (hvariant && (!wan::cuda::hopper::kernels_built() || sm != 90 || hvariant->head_dim != s.head_dim)) {
      std::fprintf(stderr, "variant %s does not apply (sm_%d, head %d, sm_90a image %s)\n", hvariant->name, sm,
                   s.head_dim, wan::cuda::hopper::kernels_built() ? "present" : "absent");
      return 1;
    }
    const std::string ran = variant    ? std::string("portable-") + variant->name
                            : hvariant ? std::string(hvariant->name)
                                       : wan::cuda::flash_attention_path_name(wan::cuda::flash_attention_path(p, sm));
    void* workspace = nullptr;
    p.workspace_bytes = hvariant && hvariant->fp8 ? wan::cuda::hopper::fp8_workspace_bytes(p)
                                                   : wan::cuda::flash_attention_workspace_bytes(p, sm);
    if (p.workspace_bytes) {
      CHECK(cudaMalloc(&workspace, p.workspace_bytes));
      p.workspace = workspace;
    }
    if (variant && (s.head_dim <= 64 || static_cast<size_t>(variant->smem) > prop.sharedMemPerBlockOptin)) {
      std::fprintf(stderr, "variant %s does not apply (head %d, %d bytes of shared memory)\n",
                   variant->name, s.head_dim, variant->smem);
      return 1;
    }
    auto launch = [&]() -> cudaError_t {
      if (variant) return variant->fn(p, nullptr);
      if (hvariant) return hvariant->launch(p, nullptr);
      return static_cast<cudaError_t>(wan::cuda::launch_flash_attention(p, nullptr));
    };

    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    CHECK(launch());  // warm-up
    CHECK(cudaEventRecord(e0));
    CHECK(launch());
    CHECK(cudaEventRecord(e1));
    CHECK(cudaEventSynchronize(e1));
    float one_ms = 0;
    CHECK(cudaEventElapsedTime(&one_ms, e0, e1));
    const int iters = std::max(3, std::min(50, static_cast<int>(min_ms / std::max(one_ms, 1e-3f))));
    CHECK(cudaEventRecord(e0));
    for (int it = 0; it < iters; ++it)
      CHECK(launch());
    CHECK(cudaEventRecord(e1));
    CHECK(cudaEventSynchronize(e1));
    float total_ms = 0;
    CHECK(cudaEventElapsedTime(&total_ms, e0, e1));
    const double ms = total_ms / iters;
    const double flops = 4.0 * s.batch * s.heads * static_cast<double>(s.seq_q) * s.seq_k * s.head_dim;
    std::printf(
        "{\"batch\": %d, \"heads\": %d, \"seq_q\": %d, \"seq_k\": %d, \"head_dim\": %d, "
        "\"variant\": \"%s\", \"kernel\": \"%s\", \"out\": \"%s\", \"ms\": %.4f, \"iters\": %d, \"tflops\": %.2f}\n",
        s.batch, s.heads, s.seq_q, s.seq_k, s.head_dim,
        variant ? variant->name : hvariant ? hvariant->name : path_opt.c_str(), ran.c_str(),
        out_f32 ? "f32" : "bf16", ms, iters,
        flops / (ms * 1e-3) / 1e12);
    std::fflush(stdout);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(q);
    cudaFree(k);
    cudaFree(v);
    cudaFree(out);
    cudaFree(workspace);
  }
  return 0;
}
