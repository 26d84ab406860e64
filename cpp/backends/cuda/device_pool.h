#pragma once
// A caching allocator for device memory: blocks are rounded up to size classes (eight per
// doubling, so at most 12.5% is lost to rounding) and returned blocks wait on a free list of their
// class until a request of that class (or one up to a quarter smaller) takes them again. Every
// kernel of the backend runs on one stream, so a block freed by the host after enqueuing work on
// it can be handed to later work on the same stream without a synchronisation.
#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "ops/backend.h"

namespace wan::cuda {

class DevicePool {
 public:
  explicit DevicePool(int device) : device_(device) {}
  ~DevicePool();
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  // A block of at least `bytes` (nullptr for 0). On out-of-memory the cache is trimmed and the
  // allocation retried once; then E_OOM naming `what`. `exact`: long-lived blocks (weights), rounded
  // only to the driver's own 2 MiB granule above it, not to a size class (up to 12.5% more, about
  // 5% of a 14B transformer that the memory plan counts at its exact size).
  void* allocate(size_t bytes, const char* what, bool exact = false);
  void release(void* p);
  // Frees every cached block (waits for the device first: a cached block may still be in use by
  // enqueued work that was reordered after its release only on the host side).
  void trim();
  MemoryStats stats() const;

  static size_t size_class(size_t bytes, bool exact = false);

 private:
  void trim_locked();
  int device_;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;        // class bytes -> cached block
  std::unordered_map<void*, size_t> live_;   // block -> class bytes
  MemoryStats stats_;
};

}  // namespace wan::cuda
