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

enum class DType : uint8_t { F32, F16, BF16, F8_E4M3, I32 };
enum class Device : uint8_t { CPU, CUDA };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

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
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* raw() const { return static_cast<char*>(storage_->data) + offset_; }
  template <typename T>
  T* data() const { return static_cast<T*>(raw()); }
  float* f32() const;
  int32_t* i32() const;

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
};

}  // namespace wan
