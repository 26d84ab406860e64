// Weight residency on the CUDA backend (Backend::make_residency): a transformer's blocks resident
// up to the memory plan's budget, the rest streamed from pinned host memory, and a parkable
// expert moved to host memory as a whole while the other one runs.
//
// Streaming: two device slots take turns. While the compute stream runs a streamed block out of
// one slot, a second (copy) stream fills the other with the next streamed block. Two events per
// slot order the streams without stalling the host:
//   copied[s]:   recorded on the copy stream after slot s is filled; the compute stream waits on it
//                before the first op that reads the block (acquire);
//   released[s]: recorded on the compute stream when slot s is about to be refilled, after every op
//                that read its previous block; the copy stream waits on it before overwriting.
// A block is acquired right before its ops are issued, so the copy of block i+1 overlaps the
// compute of block i; the output head's acquire starts the next forward's first streamed block.
//
// Compiled here with nvcc; not yet run on a GPU (the parity harness's "offloaded" checks are the
// test: cpp/tests/backend_parity/model_checks.cpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_error.h"

namespace wan::cuda {

namespace {

// Every tensor of a group starts on a 256-byte boundary of its slot (the alignment cudaMalloc gives
// and the vectorised kernels expect).
constexpr size_t kAlign = 256;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

struct Entry {
  Tensor* slot;
  DType dtype;
  Shape shape;
  float scale;
  size_t offset, bytes;  // in the group's packed image
};

struct Group {
  std::vector<Entry> entries;
  size_t bytes = 0;       // the packed image, aligned entries
  bool streamed = false;
  void* host = nullptr;   // pinned packed image: streamed and parkable groups
  Tensor device;          // a resident group's buffer once it was brought back from host memory
};

class CudaWeightResidency final : public WeightResidency {
 public:
  CudaWeightResidency(CudaBackend& be, bool parkable, bool start_parked)
      : be_(be), parkable_(parkable), parked_(parkable && start_parked) {}  // only a parkable model keeps host copies to start from

  ~CudaWeightResidency() override {
    // Copies from the pinned images may be queued on either stream (prefetch on copy_, unpark on
    // the compute stream): they finish before the images are freed.
    if (copy_) cudaStreamSynchronize(copy_);
    cudaStreamSynchronize(be_.stream());
    for (int s = 0; s < 2; ++s) {
      if (copied_[s]) cudaEventDestroy(copied_[s]);
      if (released_[s]) cudaEventDestroy(released_[s]);
    }
    if (copy_) cudaStreamDestroy(copy_);
    for (Group& g : groups_)
      if (g.host) cudaFreeHost(g.host);
  }

  int add(WeightGroup wg) override {
    be_.enter_device();
    Group g;
    g.streamed = wg.streamed;
    for (Tensor* t : wg.tensors) {
      if (!t->defined()) continue;
      g.entries.push_back(Entry{t, t->dtype(), t->shape(), t->scale(), g.bytes, t->bytes()});
      g.bytes += align_up(t->bytes());
    }
    if (g.streamed || parkable_) {
      // The load's uploads are queued on the compute stream: they land before the copy back.
      check_cuda(cudaStreamSynchronize(be_.stream()), "residency: cudaStreamSynchronize");
      check_cuda(cudaMallocHost(&g.host, std::max<size_t>(g.bytes, 1)), "residency: cudaMallocHost",
                 std::to_string(g.bytes) + " bytes of pinned host memory for weight group " + std::to_string(groups_.size()));
      try {
        for (const Entry& e : g.entries)
          check_cuda(cudaMemcpy(static_cast<char*>(g.host) + e.offset, e.slot->raw(), e.bytes, cudaMemcpyDeviceToHost),
                     "residency: cudaMemcpy (device to host)");
      } catch (...) {
        cudaFreeHost(g.host);  // the group is not kept: its image would leak
        throw;
      }
    }
    if (g.streamed) {
      ++streamed_;
      slot_bytes_ = std::max(slot_bytes_, g.bytes);
    }
    // Streamed groups, and everything of an expert loaded parked, leave the device now: the load's
    // peak is the resident part plus one group.
    if (g.streamed || parked_) unbind(g);
    groups_.push_back(std::move(g));
    return static_cast<int>(groups_.size()) - 1;
  }

  void acquire(int group) override {
    if (group < 0 || group >= static_cast<int>(groups_.size())) fail("E_NATIVE", "residency: no weight group " + std::to_string(group));
    if (parked_) unpark();
    if (streamed_ == 0) return;
    be_.enter_device();
    ensure_slots();
    Group& g = groups_[group];
    if (g.streamed) {
      int s = slot_of(group);
      if (s < 0) {  // not prefetched (the first forward, or a cache skipped blocks): fetch it now
        s = bound_slot_ == 0 ? 1 : 0;
        fill(group, s);
      }
      check_cuda(cudaStreamWaitEvent(be_.stream(), copied_[s], 0), "residency: cudaStreamWaitEvent (copied)");
      bind(g, slots_[s]);
      bound_slot_ = s;
    }
    const int next = next_streamed(group);
    if (next >= 0 && slot_of(next) < 0) fill(next, bound_slot_ == 0 ? 1 : 0);
  }

  void park() override {
    if (!parkable_ || parked_) return;
    be_.enter_device();
    // The copy stream may still be filling a slot; the compute stream orders the frees after the
    // ops that read the weights (the pool hands memory back in stream order).
    if (copy_) check_cuda(cudaStreamSynchronize(copy_), "residency: cudaStreamSynchronize (copy)");
    for (Group& g : groups_) {
      unbind(g);
      g.device = Tensor();
    }
    for (int s = 0; s < 2; ++s) {
      slots_[s] = Tensor();
      slot_group_[s] = -1;
    }
    bound_slot_ = -1;
    parked_ = true;
  }

  void unpark() override {
    if (!parked_) return;
    be_.enter_device();
    for (Group& g : groups_) {
      if (g.streamed) continue;
      g.device = be_.empty_exact({static_cast<int64_t>(std::max<size_t>(g.bytes, 1))}, DType::F8_E4M3);
      check_cuda(cudaMemcpyAsync(g.device.raw(), g.host, g.bytes, cudaMemcpyHostToDevice, be_.stream()),
                 "residency: cudaMemcpyAsync (unpark)");
      bind(g, g.device);
    }
    parked_ = false;
  }

  bool moves_weights() const override { return streamed_ > 0 || parkable_; }

 private:
  // Each piece is made only where missing and kept only once made, so a job that failed here (E_OOM
  // on the second slot, say) leaves a state the next job's acquire() completes, never half a pair.
  void ensure_slots() {
    if (!copy_) check_cuda(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking), "residency: cudaStreamCreate");
    for (int s = 0; s < 2; ++s) {
      if (!copied_[s]) check_cuda(cudaEventCreateWithFlags(&copied_[s], cudaEventDisableTiming), "residency: cudaEventCreate");
      if (!released_[s]) check_cuda(cudaEventCreateWithFlags(&released_[s], cudaEventDisableTiming), "residency: cudaEventCreate");
    }
    if (slots_[0].defined() && slots_[1].defined()) return;
    Tensor a = be_.empty_exact({static_cast<int64_t>(slot_bytes_)}, DType::F8_E4M3);
    Tensor b = be_.empty_exact({static_cast<int64_t>(slot_bytes_)}, DType::F8_E4M3);
    slots_[0] = std::move(a);
    slots_[1] = std::move(b);
    slot_group_[0] = slot_group_[1] = -1;
    bound_slot_ = -1;
  }

  // The group's slots point into `buffer` (a slot, or the group's own device buffer).
  void bind(Group& g, const Tensor& buffer) {
    for (const Entry& e : g.entries) {
      *e.slot = Tensor(buffer.storage(), e.dtype, e.shape, buffer.byte_offset() + e.offset);
      e.slot->set_scale(e.scale);
    }
  }

  // The group's slots emptied (its device memory freed unless a slot buffer holds it).
  static void unbind(Group& g) {
    for (const Entry& e : g.entries) *e.slot = Tensor();
  }

  // Starts copying group `group` into slot `s` on the copy stream, once the compute stream is done
  // with the slot's previous block.
  void fill(int group, int s) {
    if (slot_group_[s] >= 0) unbind(groups_[slot_group_[s]]);
    check_cuda(cudaEventRecord(released_[s], be_.stream()), "residency: cudaEventRecord (released)");
    check_cuda(cudaStreamWaitEvent(copy_, released_[s], 0), "residency: cudaStreamWaitEvent (released)");
    const Group& g = groups_[group];
    check_cuda(cudaMemcpyAsync(slots_[s].raw(), g.host, g.bytes, cudaMemcpyHostToDevice, copy_), "residency: cudaMemcpyAsync (prefetch)");
    check_cuda(cudaEventRecord(copied_[s], copy_), "residency: cudaEventRecord (copied)");
    slot_group_[s] = group;
  }

  int slot_of(int group) const {
    for (int s = 0; s < 2; ++s)
      if (slot_group_[s] == group) return s;
    return -1;
  }

  // The streamed group used next after `group`, wrapping to the next forward; -1 when none streams.
  int next_streamed(int group) const {
    const int n = static_cast<int>(groups_.size());
    for (int k = 1; k <= n; ++k) {
      const int j = (group + k) % n;
      if (groups_[j].streamed) return j;
    }
    return -1;
  }

  CudaBackend& be_;
  std::vector<Group> groups_;
  int streamed_ = 0;
  bool parkable_, parked_;
  size_t slot_bytes_ = 0;
  Tensor slots_[2];
  int slot_group_[2] = {-1, -1};
  int bound_slot_ = -1;  // the slot the last acquired streamed group reads
  cudaStream_t copy_ = nullptr;
  cudaEvent_t copied_[2] = {nullptr, nullptr}, released_[2] = {nullptr, nullptr};
};

}  // namespace

std::unique_ptr<WeightResidency> CudaBackend::make_residency(bool parkable, bool start_parked) {
  return std::make_unique<CudaWeightResidency>(*this, parkable, start_parked);
}

}  // namespace wan::cuda
