#pragma once
// Reading the typed plans and tensors that TypeScript hands over, with errors that name the field.
#include <napi.h>

#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/weight_source.h"
#include "ops/backend.h"

namespace wan::napi {

double get_number(const Napi::Object& obj, const char* key);
double get_number_or(const Napi::Object& obj, const char* key, double fallback);
bool get_bool_or(const Napi::Object& obj, const char* key, bool fallback);
std::string get_string(const Napi::Object& obj, const char* key);
Shape get_shape(const Napi::Object& obj, const char* key);
DType parse_dtype(const std::string& name);

// {data: Float32Array, shape: number[]} -> host floats + shape (validated against each other).
struct HostTensor {
  std::vector<float> data;
  Shape shape;
};
HostTensor get_host_tensor(const Napi::Object& obj, const char* key);

// The plan's `tensors` array -> specs for PlanWeightSource.
std::vector<TensorSpec> get_tensor_specs(const Napi::Array& arr);

// {data: Float32Array, shape} from a backend tensor (copied to host).
Napi::Object tensor_to_js(Napi::Env env, Backend& backend, const Tensor& t);

// Rethrows whatever a native call threw as a JS error carrying a code (`E_...`).
Napi::Error to_js_error(Napi::Env env, const std::string& code, const std::string& message);

}  // namespace wan::napi
