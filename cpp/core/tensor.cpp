#include "core/tensor.h"

#include "core/error.h"

namespace wan {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::F8_E4M3: return 1;
    case DType::I32: return 4;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::I32: return "I32";
  }
  return "?";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

Tensor::Tensor(std::shared_ptr<Storage> storage, DType dtype, Shape shape, size_t byte_offset)
    : storage_(std::move(storage)), dtype_(dtype), shape_(std::move(shape)), offset_(byte_offset) {
  WAN_CHECK(offset_ + bytes() <= storage_->bytes, "tensor larger than its storage");
}

float* Tensor::f32() const {
  WAN_CHECK(dtype_ == DType::F32, std::string("expected an F32 tensor, got ") + dtype_name(dtype_));
  return data<float>();
}

int32_t* Tensor::i32() const {
  WAN_CHECK(dtype_ == DType::I32, std::string("expected an I32 tensor, got ") + dtype_name(dtype_));
  return data<int32_t>();
}

Tensor Tensor::view(Shape shape) const {
  WAN_CHECK(shape_numel(shape) == numel(), "view " + shape_str(shape) + " of " + shape_str(shape_));
  return Tensor(storage_, dtype_, std::move(shape), offset_);
}

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  WAN_CHECK(rank() >= 1 && begin >= 0 && begin <= end && end <= shape_[0], "slice0 out of range");
  Shape s = shape_;
  s[0] = end - begin;
  const size_t row_bytes = shape_[0] ? bytes() / shape_[0] : 0;
  return Tensor(storage_, dtype_, std::move(s), offset_ + begin * row_bytes);
}

Tensor Tensor::narrow_flat(int64_t begin, int64_t count) const {
  WAN_CHECK(begin >= 0 && count >= 0 && begin + count <= numel(), "narrow_flat out of range");
  return Tensor(storage_, dtype_, {count}, offset_ + begin * dtype_size(dtype_));
}

}  // namespace wan
