#pragma once
// A tensor is a typed, shaped view of a storage block owned by one backend. Shapes are row-major
// and contiguous; views share the storage and only change the shape.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace wan {

// Element types. Past I32 are GGUF's block formats (ggml's block_q8_0 ... block_q6_K): `block_elems`
// consecutive elements of a row stored in `block_bytes` bytes; a tensor of one holds whole blocks
// along its last dimension. Stored weights keep these types on the backends that choose to
// (see Backend::load_weight); activations are F32 (and I32 for ids).
enum class DType : uint8_t { F32, F16, BF16, F8_E4M3, I32, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K };
enum class Device : uint8_t { CPU, CUDA };

struct DTypeInfo {
  DType dtype;
  const char* name;    // as plans spell it ("F32", "Q4_K", ...)
  int64_t block_elems; // 1 for the scalar types
  size_t block_bytes;  // bytes of one block (of one element for the scalar types)
};
// The one table of dtypes; everything below reads it.
const DTypeInfo& dtype_info(DType dtype);
// Every dtype, in enum order.
const DTypeInfo* dtype_table(size_t* count);
// Bytes per element of a scalar dtype; E_NATIVE for a block type (use dtype_bytes).
size_t dtype_size(DType dtype);
// Bytes of `numel` elements (a multiple of the block size for block types).
size_t dtype_bytes(DType dtype, int64_t numel);
const char* dtype_name(DType dtype);
bool dtype_is_block(DType dtype);
// The dtype a plan names ("Q4_K"); false if there is none.
bool dtype_from_name(const std::string& name, DType* out);

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);

// Owns device or host memory; `release` returns it to whoever allocated it (a pool, free, cudaFree).
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
  std::function<void(void*)> release;
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release && data) release(data);
  }
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> storage, DType dtype, Shape shape, size_t byte_offset = 0);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device : Device::CPU; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // Negative indices count from the end, as in PyTorch.
  int64_t dim(int i) const { return shape_[i < 0 ? shape_.size() + i : i]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t bytes() const { return dtype_bytes(dtype_, numel()); }
  // Dequantisation scale of a stored weight (fp8 "scaled" checkpoints): its value is the stored
  // value times this. 1 for every other tensor; views keep it.
  float scale() const { return scale_; }
  void set_scale(float s) { scale_ = s; }

  void* raw() const { return static_cast<char*>(storage_->data) + offset_; }
  template <typename T>
  T* data() const { return static_cast<T*>(raw()); }
  float* f32() const;
  int32_t* i32() const;

  // The storage block and where this tensor starts in it (a backend rebinding a weight to another
  // block: see WeightResidency).
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  size_t byte_offset() const { return offset_; }

  // Same storage, new shape with the same element count.
  Tensor view(Shape shape) const;
  // Rows [begin, end) of the leading dimension.
  Tensor slice0(int64_t begin, int64_t end) const;
  // Elements [begin, begin + count) of the flattened tensor, as a 1-D view.
  Tensor narrow_flat(int64_t begin, int64_t count) const;

 private:
  std::shared_ptr<Storage> storage_;
  DType dtype_ = DType::F32;
  Shape shape_;
  size_t offset_ = 0;
  float scale_ = 1.0f;
};

}  // namespace wan
