// Standalone correctness test and benchmark for wan::cpu::sgemm_portable.
//
//   g++ -O3 -std=c++17 -pthread -Icpp cpp/core/thread_pool.cpp cpp/backends/cpu/gemm_portable.cpp
//       cpp/tests/gemm_portable_test.cpp -o /tmp/gemm_test
//   /tmp/gemm_test [--no-bench] [--bench-only] [--all-kernels | --kernel=NAME] [--cold-b] [--threads=N]
//                  [--seconds=S]
//
// Every kernel this CPU can run is checked against a double-accumulating reference on many shapes
// (edges, strides, alpha/beta, NaN garbage under beta = 0) with several pool sizes. Exits 1 on any
// failure. The benchmark then reports GFLOP/s for the dispatcher's kernel (or every kernel with
// --all-kernels) at the shapes the Wan models use.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/gemm_portable.h"
#include "core/thread_pool.h"

using wan::ThreadPool;
using wan::cpu::sgemm_portable;

namespace {

struct Case {
  bool trans_b;
  int64_t M, N, K;
  float alpha, beta;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;  // extra leading-dimension slack
  bool nan_c = false;                       // fill C with NaN before the call (only with beta == 0)
};

std::mt19937_64 rng(12345);

void fill(std::vector<float>& v) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (auto& x : v) x = d(rng);
}

// Runs one case; returns the worst error, normalised by the magnitude bound of each element
// (|alpha| * sum_k |a*b| + |beta * c|), which is what float rounding error scales with.
// Sets *ok false on a tolerance violation or a write outside C's M x N window.
double run_case(const Case& tc, ThreadPool& pool, bool* ok, std::string* why) {
  const int64_t M = tc.M, N = tc.N, K = tc.K;
  const int64_t lda = K + tc.pad_a;
  const int64_t ldb = (tc.trans_b ? K : N) + tc.pad_b;
  const int64_t ldc = N + tc.pad_c;
  const int64_t b_rows = tc.trans_b ? N : K;
  std::vector<float> A(static_cast<size_t>(std::max<int64_t>(1, M * lda)));
  std::vector<float> B(static_cast<size_t>(std::max<int64_t>(1, b_rows * ldb)));
  std::vector<float> C(static_cast<size_t>(M * ldc));
  fill(A);
  fill(B);
  fill(C);
  // NaN in the stride padding of A and B: a packer reading past the logical width would leak it.
  const float qnan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = K; k < lda; ++k) A[i * lda + k] = qnan;
  for (int64_t r = 0; r < b_rows; ++r)
    for (int64_t c = (tc.trans_b ? K : N); c < ldb; ++c) B[r * ldb + c] = qnan;
  const float sentinel = 12345.678f;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = N; j < ldc; ++j) C[i * ldc + j] = sentinel;
  std::vector<float> C0 = C;
  if (tc.nan_c)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();

  sgemm_portable(tc.trans_b, M, N, K, tc.alpha, A.data(), lda, B.data(), ldb, tc.beta, C.data(), ldc, pool);

  double worst = 0.0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0, mag = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = A[i * lda + k];
        const double b = tc.trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
        mag += std::fabs(a * b);
      }
      double ref = tc.alpha * acc;
      mag = std::fabs(tc.alpha) * mag;
      if (tc.beta != 0.0f) {
        ref += tc.beta * static_cast<double>(C0[i * ldc + j]);
        mag += std::fabs(tc.beta * static_cast<double>(C0[i * ldc + j]));
      }
      const double got = C[i * ldc + j];
      if (!std::isfinite(got)) {
        *ok = false;
        *why = "non-finite output at (" + std::to_string(i) + "," + std::to_string(j) + ")";
        return INFINITY;
      }
      const double err = std::fabs(got - ref) / std::max(mag, 1e-30);
      worst = std::max(worst, err);
      // Worst-case float summation bound is ~K * 2^-24 of the magnitude; alpha/beta add a few more
      // roundings.
      const double tol = (static_cast<double>(K) + 4.0) * 6.0e-8;
      if (err > tol && std::fabs(got - ref) > 1e-30) {
        *ok = false;
        *why = "error " + std::to_string(err) + " > " + std::to_string(tol) + " at (" + std::to_string(i) + "," +
               std::to_string(j) + ")";
      }
    }
    for (int64_t j = N; j < ldc; ++j) {
      if (C[i * ldc + j] != sentinel) {
        *ok = false;
        *why = "wrote outside C at (" + std::to_string(i) + "," + std::to_string(j) + ")";
      }
    }
  }
  return worst;
}

std::vector<Case> make_cases() {
  std::vector<Case> cs;
  for (bool tb : {false, true}) {
    // Degenerate and tiny shapes.
    cs.push_back({tb, 1, 1, 1, 1.0f, 0.0f});
    cs.push_back({tb, 1, 37, 19, 1.0f, 0.0f});
    cs.push_back({tb, 45, 1, 23, 1.0f, 0.0f});
    cs.push_back({tb, 33, 29, 1, 1.0f, 0.0f});
    cs.push_back({tb, 7, 5, 3, 1.0f, 0.0f});
    cs.push_back({tb, 1, 1, 1000, 1.0f, 0.0f});
    // Not multiples of any tile (6, 14, 16, 32) nor of the K block.
    cs.push_back({tb, 13, 31, 17, 1.0f, 0.0f});
    cs.push_back({tb, 15, 33, 257, 1.0f, 0.0f});
    cs.push_back({tb, 29, 65, 300, 1.0f, 0.0f});
    cs.push_back({tb, 97, 83, 513, 1.0f, 0.0f});
    cs.push_back({tb, 131, 157, 77, 1.0f, 0.0f});
    // Exact tile multiples.
    cs.push_back({tb, 42, 64, 128, 1.0f, 0.0f});
    cs.push_back({tb, 84, 96, 256, 1.0f, 0.0f});
    // Big enough to span several MC / NC / KC blocks and threads.
    cs.push_back({tb, 390, 300, 130, 1.0f, 0.0f});
    cs.push_back({tb, 250, 4500, 40, 1.0f, 0.0f});
    cs.push_back({tb, 61, 70, 1100, 1.0f, 0.0f});
    // Enough work for every pool size to split, with ragged edges in both directions.
    cs.push_back({tb, 211, 517, 333, 0.75f, 0.5f, 3, 5, 7});
    // Strides wider than the data.
    cs.push_back({tb, 37, 41, 29, 1.0f, 0.0f, 5, 7, 3});
    cs.push_back({tb, 100, 130, 70, 1.0f, 0.0f, 64, 1, 17});
    cs.push_back({tb, 390, 390, 128, 1.0f, 0.0f, 1536 * 3 - 128, (tb ? 1536 * 3 - 128 : 4), 2});
    // alpha / beta.
    cs.push_back({tb, 23, 45, 67, 0.5f, 0.0f});
    cs.push_back({tb, 23, 45, 67, -2.0f, 1.0f});
    cs.push_back({tb, 23, 45, 67, 1.0f, 1.0f, 3, 2, 1});
    cs.push_back({tb, 50, 70, 300, 0.125f, -0.75f, 0, 0, 9});
    cs.push_back({tb, 19, 35, 600, 1.5f, 2.0f});
    cs.push_back({tb, 17, 40, 33, 0.0f, 0.5f});  // alpha = 0: C = beta * C
    cs.push_back({tb, 17, 40, 0, 1.0f, 3.0f});   // K = 0: C = beta * C
    // beta = 0 over NaN garbage, including edge tiles, several K blocks and alpha = 0 / K = 0.
    Case nan1{tb, 31, 47, 300, 1.0f, 0.0f, 0, 0, 5};
    nan1.nan_c = true;
    cs.push_back(nan1);
    Case nan2{tb, 200, 333, 64, -1.0f, 0.0f};
    nan2.nan_c = true;
    cs.push_back(nan2);
    Case nan3{tb, 9, 10, 11, 0.0f, 0.0f};
    nan3.nan_c = true;
    cs.push_back(nan3);
    Case nan4{tb, 9, 10, 0, 1.0f, 0.0f};
    nan4.nan_c = true;
    cs.push_back(nan4);
  }
  return cs;
}

std::string describe(const Case& c) {
  char buf[200];
  std::snprintf(buf, sizeof(buf), "%s M=%lld N=%lld K=%lld alpha=%g beta=%g pad=%lld/%lld/%lld%s",
                c.trans_b ? "B^T" : "B  ", (long long)c.M, (long long)c.N, (long long)c.K, c.alpha, c.beta,
                (long long)c.pad_a, (long long)c.pad_b, (long long)c.pad_c, c.nan_c ? " NaN-C" : "");
  return buf;
}

const char* kAllKernels[] = {"avx512", "avx2+fma", "generic"};

bool run_tests() {
  bool all_ok = true;
  const auto cases = make_cases();
  for (const char* kname : kAllKernels) {
    if (!wan::cpu::detail::sgemm_portable_force_kernel(kname)) {
      std::printf("kernel %-9s: not available on this CPU or in this build, skipped\n", kname);
      continue;
    }
    for (int threads : {1, 2, 3, 8}) {
      ThreadPool pool(threads);
      double worst = 0.0;
      int failed = 0;
      for (const auto& c : cases) {
        bool ok = true;
        std::string why;
        const double e = run_case(c, pool, &ok, &why);
        if (!ok) {
          ++failed;
          std::printf("FAIL kernel=%s threads=%d %s: %s\n", kname, threads, describe(c).c_str(), why.c_str());
        } else {
          worst = std::max(worst, e);
        }
      }
      std::printf("kernel %-9s threads=%d: %zu cases, %d failed, max relative error %.3g\n", kname, threads,
                  cases.size(), failed, worst);
      all_ok = all_ok && failed == 0;
    }
  }
  // A call from inside a pool task must run inline rather than deadlock on the pool.
  {
    ThreadPool pool(2);
    bool ok = true;
    std::string why;
    double e = 0.0;
    pool.parallel_for(
        2,
        [&](int64_t b, int64_t) {
          if (b == 0) e = run_case({true, 50, 60, 70, 1.0f, 0.0f}, pool, &ok, &why);
        },
        1);
    std::printf("nested call inside a pool task: %s (max relative error %.3g)\n", ok ? "ok" : why.c_str(), e);
    all_ok = all_ok && ok;
  }
  return all_ok;
}

struct BenchShape {
  bool trans_b;
  int64_t M, N, K, lda, ldb, ldc;
  const char* note;
};

void run_bench(bool all_kernels, const std::string& only, int threads, double seconds, bool cold_b) {
  const int64_t qkv = 3 * 1536;
  const std::vector<BenchShape> shapes = {
      {true, 390, 1536, 1536, 1536, 1536, 1536, "self-attn proj"},
      {true, 390, 8960, 1536, 1536, 1536, 8960, "ffn up"},
      {true, 390, 1536, 8960, 8960, 8960, 1536, "ffn down"},
      {true, 512, 1536, 4096, 4096, 4096, 1536, "text cross-attn kv"},
      {true, 4096, 4096, 4096, 4096, 4096, 4096, "square"},
      {true, 390, 390, 128, qkv, qkv, 390, "attn QK^T strided"},
      {false, 390, 128, 390, 390, qkv, qkv, "attn PV strided"},
      {false, 390, 1536, 1536, 1536, 1536, 1536, "B [K,N] layout"},
      {true, 32760, 1536, 1536, 1536, 1536, 1536, "long video proj"},
  };
  ThreadPool pool(threads);
  const std::string chosen = wan::cpu::sgemm_portable_kernel_name();
  std::vector<std::string> kernels;
  if (!only.empty()) {
    kernels.push_back(only);
  } else if (all_kernels) {
    for (const char* k : kAllKernels)
      if (wan::cpu::detail::sgemm_portable_force_kernel(k)) kernels.push_back(k);
  } else {
    kernels.push_back(chosen);
  }
  for (const auto& k : kernels) {
    if (!wan::cpu::detail::sgemm_portable_force_kernel(k.c_str())) {
      std::printf("kernel %s not available\n", k.c_str());
      return;
    }
  }
  std::printf("\nbenchmark: %d threads, GFLOP/s (best batch; kernels interleaved round by round)%s\n", pool.size(),
              cold_b ? ", B rotated over >96 MB of copies (weights not in cache)" : "");
  std::printf("  %-5s %6s %6s %6s  %-20s", "op(B)", "M", "N", "K", "");
  for (const auto& k : kernels) std::printf(" %10s", k.c_str());
  std::printf("\n");
  for (const auto& s : shapes) {
    const int64_t b_rows = s.trans_b ? s.N : s.K;
    const int64_t b_size = b_rows * s.ldb;
    const int64_t copies = cold_b ? 1 + static_cast<int64_t>(96e6 / (4.0 * b_size)) : 1;
    std::vector<float> A(static_cast<size_t>(s.M * s.lda)), B(static_cast<size_t>(b_size * copies)),
        C(static_cast<size_t>(s.M * s.ldc));
    fill(A);
    fill(B);
    const double flop = 2.0 * s.M * s.N * s.K;
    int64_t next = 0;
    auto call = [&] {
      const float* b = B.data() + (next++ % copies) * b_size;
      sgemm_portable(s.trans_b, s.M, s.N, s.K, 1.0f, A.data(), s.lda, b, s.ldb, 0.0f, C.data(), s.ldc, pool);
    };
    // Best of many short batches, kernels taking turns: on a shared machine the least disturbed
    // batch is the closest to what the code can do, and every kernel sees the same disturbances.
    const int reps = std::max(1, static_cast<int>(1e9 / flop));
    std::vector<double> best(kernels.size(), 1e300);
    double spent = 0.0;
    for (int round = 0; round < 41 && (round < 4 || spent < seconds * kernels.size()); ++round) {
      for (size_t ki = 0; ki < kernels.size(); ++ki) {
        wan::cpu::detail::sgemm_portable_force_kernel(kernels[ki].c_str());
        if (round == 0) {
          call();  // warm-up: scratch buffers, page faults
          continue;
        }
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) call();
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        spent += dt;
        best[ki] = std::min(best[ki], dt / reps);
      }
    }
    std::printf("  %-5s %6lld %6lld %6lld  %-20s", s.trans_b ? "B^T" : "B", (long long)s.M, (long long)s.N,
                (long long)s.K, s.note);
    for (double b : best) std::printf(" %10.1f", flop / b * 1e-9);
    std::printf("\n");
    std::fflush(stdout);
  }
  wan::cpu::detail::sgemm_portable_force_kernel(chosen.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  bool bench = true, tests = true, all_kernels = false;
  int threads = 0;
  double seconds = 0.5;
  std::string only;
  bool cold_b = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-bench") bench = false;
    else if (a == "--bench-only") tests = false;
    else if (a == "--all-kernels") all_kernels = true;
    else if (a == "--cold-b") cold_b = true;
    else if (a.rfind("--kernel=", 0) == 0) only = a.substr(9);
    else if (a.rfind("--threads=", 0) == 0) threads = std::atoi(a.c_str() + 10);
    else if (a.rfind("--seconds=", 0) == 0) seconds = std::atof(a.c_str() + 10);
    else {
      std::fprintf(stderr, "usage: %s [--no-bench] [--bench-only] [--all-kernels | --kernel=NAME] [--cold-b] [--threads=N] [--seconds=S]\n",
                   argv[0]);
      return 2;
    }
  }
  // The tests switch kernels; remember the dispatcher's own choice first.
  const std::string chosen = wan::cpu::sgemm_portable_kernel_name();
  std::printf("dispatcher picks kernel: %s\n", chosen.c_str());
  bool ok = true;
  if (tests) {
    ok = run_tests();
    std::printf("%s\n", ok ? "ALL TESTS PASSED" : "TESTS FAILED");
  }
  wan::cpu::detail::sgemm_portable_force_kernel(chosen.c_str());
  if (bench) run_bench(all_kernels, only, threads, seconds, cold_b);
  return ok ? 0 : 1;
}
