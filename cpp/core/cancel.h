#pragma once
// One job's cancellation, the only one the runtime has: an atomic flag per job, polled by the work
// at the points where stopping leaves nothing half-written (between transformer blocks, denoising
// steps, VAE chunks, text-encoder layers). Three things may raise it: JS (an Int32Array over a
// SharedArrayBuffer that Atomics.store sets; the pipeline passes one per generation to every
// native stage), the runtime itself (a consumer that failed, a handle's cancel()), and the device
// thread shutting down with its addon instance.
#include <atomic>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace wan {

class CancelToken {
 public:
  CancelToken() = default;
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  // Raised by the runtime; seen by the next poll.
  void cancel() { own_.store(true, std::memory_order_relaxed); }

  // An external flag (element 0 of a JS Int32Array), read atomically; it must outlive the job.
  void watch(const int32_t* flag) { external_ = flag; }
  // A flag shared by every job of a device thread (set when the thread shuts down).
  void watch(const std::atomic<bool>* flag) { shutdown_ = flag; }

  bool cancelled() const {
    if (own_.load(std::memory_order_relaxed)) return true;
    if (shutdown_ && shutdown_->load(std::memory_order_relaxed)) return true;
    // The JS side writes with Atomics.store: a lock-free 32-bit atomic has the int's layout.
    static_assert(sizeof(std::atomic<int32_t>) == sizeof(int32_t), "atomic<int32_t> must be a plain int32");
    return external_ && reinterpret_cast<const std::atomic<int32_t>*>(external_)->load(std::memory_order_relaxed) != 0;
  }

  // Throws E_CANCELLED naming where the work stopped.
  void check(const char* where) const {
    if (cancelled()) fail("E_CANCELLED", std::string("cancelled ") + where);
  }

 private:
  std::atomic<bool> own_{false};
  const int32_t* external_ = nullptr;
  const std::atomic<bool>* shutdown_ = nullptr;
};

// Polls a token that may be absent (work run outside a job: tests, the parity harness).
inline void check_cancel(const CancelToken* token, const char* where) {
  if (token) token->check(where);
}

}  // namespace wan
