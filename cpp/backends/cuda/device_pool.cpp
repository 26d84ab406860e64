#include "backends/cuda/device_pool.h"

#include <algorithm>
#include <string>

#include "backends/cuda/cuda_error.h"

namespace wan::cuda {

size_t DevicePool::size_class(size_t bytes, bool exact) {
  constexpr size_t kMin = 512;  // cudaMalloc aligns to 256 already; 512 keeps tiny tensors in few classes
  constexpr size_t kGranule = size_t{2} << 20;
  if (bytes <= kMin) return kMin;
  if (exact && bytes > kGranule) return (bytes + kGranule - 1) / kGranule * kGranule;
  size_t top = 1;
  while ((top << 1) <= bytes) top <<= 1;  // highest power of two <= bytes
  const size_t step = std::max(kMin, top / 8);
  return (bytes + step - 1) / step * step;
}

DevicePool::~DevicePool() {
  std::lock_guard<std::mutex> lock(mu_);
  // At process exit the context may already be gone: errors here are ignored on purpose.
  for (auto& [size, p] : free_) cudaFree(p);
  free_.clear();
}

void* DevicePool::allocate(size_t bytes, const char* what, bool exact) {
  if (bytes == 0) return nullptr;
  const size_t cls = size_class(bytes, exact);
  std::lock_guard<std::mutex> lock(mu_);
  // Exact class first, else a cached block at most a quarter larger (the VAE's chunk sizes vary).
  auto it = free_.lower_bound(cls);
  if (it != free_.end() && it->first <= cls + cls / 4) {
    void* p = it->second;
    const size_t got = it->first;
    free_.erase(it);
    stats_.cached -= got;
    live_[p] = got;
    stats_.in_use += got;
    stats_.peak = std::max(stats_.peak, stats_.in_use);
    return p;
  }
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  void* p = nullptr;
  cudaError_t st = cudaMalloc(&p, cls);
  if (st == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    trim_locked();
    st = cudaMalloc(&p, cls);
  }
  if (st != cudaSuccess)
    fail_cuda(st, "device memory", "allocating " + std::to_string(cls) + " bytes for " + what + " (in use " +
                                       std::to_string(stats_.in_use) + ", cached " + std::to_string(stats_.cached) +
                                       " after trimming)");
  live_[p] = cls;
  stats_.in_use += cls;
  stats_.peak = std::max(stats_.peak, stats_.in_use);
  return p;
}

void DevicePool::release(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) return;  // not ours: nothing sane to do in a destructor
  const size_t cls = it->second;
  live_.erase(it);
  stats_.in_use -= cls;
  stats_.cached += cls;
  free_.emplace(cls, p);
}

void DevicePool::trim_locked() {
  if (free_.empty()) return;
  cudaSetDevice(device_);
  cudaDeviceSynchronize();
  for (auto& [size, p] : free_) cudaFree(p);
  free_.clear();
  stats_.cached = 0;
  (void)cudaGetLastError();
}

void DevicePool::trim() {
  std::lock_guard<std::mutex> lock(mu_);
  trim_locked();
}

MemoryStats DevicePool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace wan::cuda
