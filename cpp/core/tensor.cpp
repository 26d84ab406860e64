#include "core/tensor.h"

#include "core/error.h"

namespace wan {

namespace {
// Block sizes as ggml's GGML_QUANT_SIZES lists them.
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 1, 4},        {DType::F16, "F16", 1, 2},        {DType::BF16, "BF16", 1, 2},
    {DType::F8_E4M3, "F8_E4M3", 1, 1}, {DType::I32, "I32", 1, 4},        {DType::Q8_0, "Q8_0", 32, 34},
    {DType::Q4_0, "Q4_0", 32, 18},    {DType::Q4_1, "Q4_1", 32, 20},    {DType::Q5_0, "Q5_0", 32, 22},
    {DType::Q5_1, "Q5_1", 32, 24},    {DType::Q2_K, "Q2_K", 256, 84},   {DType::Q3_K, "Q3_K", 256, 110},
    {DType::Q4_K, "Q4_K", 256, 144},  {DType::Q5_K, "Q5_K", 256, 176},  {DType::Q6_K, "Q6_K", 256, 210},
};
constexpr size_t kDTypeCount = sizeof(kDTypes) / sizeof(kDTypes[0]);
constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < kDTypeCount; ++i)
    if (static_cast<size_t>(kDTypes[i].dtype) != i) return false;
  return true;
}
static_assert(table_in_enum_order(), "kDTypes must list every DType in enum order");
}  // namespace

const DTypeInfo& dtype_info(DType dtype) {
  const size_t i = static_cast<size_t>(dtype);
  WAN_CHECK(i < kDTypeCount, "unknown dtype " + std::to_string(i));
  return kDTypes[i];
}

const DTypeInfo* dtype_table(size_t* count) {
  *count = kDTypeCount;
  return kDTypes;
}

size_t dtype_size(DType dtype) {
  const DTypeInfo& d = dtype_info(dtype);
  WAN_CHECK(d.block_elems == 1, std::string("dtype_size of the block type ") + d.name);
  return d.block_bytes;
}

size_t dtype_bytes(DType dtype, int64_t numel) {
  const DTypeInfo& d = dtype_info(dtype);
  WAN_CHECK(numel % d.block_elems == 0, std::to_string(numel) + " elements are not whole " + d.name + " blocks");
  return static_cast<size_t>(numel / d.block_elems) * d.block_bytes;
}

const char* dtype_name(DType dtype) { return dtype_info(dtype).name; }

bool dtype_is_block(DType dtype) { return dtype_info(dtype).block_elems > 1; }

bool dtype_from_name(const std::string& name, DType* out) {
  for (const DTypeInfo& d : kDTypes)
    if (name == d.name) {
      *out = d.dtype;
      return true;
    }
  return false;
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
  Tensor t(storage_, dtype_, std::move(shape), offset_);
  t.scale_ = scale_;
  return t;
}

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  WAN_CHECK(rank() >= 1 && begin >= 0 && begin <= end && end <= shape_[0], "slice0 out of range");
  Shape s = shape_;
  s[0] = end - begin;
  const size_t row_bytes = shape_[0] ? bytes() / shape_[0] : 0;
  Tensor t(storage_, dtype_, std::move(s), offset_ + begin * row_bytes);
  t.scale_ = scale_;
  return t;
}

Tensor Tensor::narrow_flat(int64_t begin, int64_t count) const {
  WAN_CHECK(begin >= 0 && count >= 0 && begin + count <= numel(), "narrow_flat out of range");
  Tensor t(storage_, dtype_, {count}, offset_ + dtype_bytes(dtype_, begin));
  t.scale_ = scale_;
  return t;
}

}  // namespace wan
