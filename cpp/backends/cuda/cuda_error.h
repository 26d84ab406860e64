#pragma once
// Every CUDA call of the backend goes through these: a failure becomes a wan::Error with a code
// (E_OOM for allocations, E_DEVICE otherwise) naming the op, never an abort of the host process.
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

namespace wan::cuda {

[[noreturn]] inline void fail_cuda(cudaError_t st, const char* op, const std::string& detail = std::string()) {
  // Reading the error clears it where it is not sticky, so the next op does not report it again.
  (void)cudaGetLastError();
  const std::string msg = std::string(op) + ": " + cudaGetErrorName(st) + " (" + cudaGetErrorString(st) + ")" +
                          (detail.empty() ? std::string() : ", " + detail);
  fail(st == cudaErrorMemoryAllocation ? "E_OOM" : "E_DEVICE", msg);
}

inline void check_cuda(cudaError_t st, const char* op, const std::string& detail = std::string()) {
  if (st != cudaSuccess) fail_cuda(st, op, detail);
}

// After a kernel launch: configuration errors show at once, faults of the kernel itself at the
// next synchronising call (download) unless WAN_VIDEO_CUDA_SYNC=1 synchronises after every op.
void check_launch(const char* op);

}  // namespace wan::cuda
