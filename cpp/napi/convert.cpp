#include "napi/convert.h"

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace wan::napi {

namespace {
Napi::Value field(const Napi::Object& obj, const char* key) {
  if (!obj.Has(key)) fail("E_INVALID_ARGUMENT", std::string("missing field \"") + key + "\"");
  return obj.Get(key);
}
}  // namespace

double get_number(const Napi::Object& obj, const char* key) {
  Napi::Value v = field(obj, key);
  if (!v.IsNumber()) fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

double get_number_or(const Napi::Object& obj, const char* key, double fallback) {
  if (!obj.Has(key)) return fallback;
  Napi::Value v = obj.Get(key);
  if (v.IsNull() || v.IsUndefined()) return fallback;
  if (!v.IsNumber()) fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be a number or null");
  return v.As<Napi::Number>().DoubleValue();
}

bool get_bool_or(const Napi::Object& obj, const char* key, bool fallback) {
  if (!obj.Has(key)) return fallback;
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string get_string(const Napi::Object& obj, const char* key) {
  Napi::Value v = field(obj, key);
  if (!v.IsString()) fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Shape get_shape(const Napi::Object& obj, const char* key) {
  Napi::Value v = field(obj, key);
  if (!v.IsArray()) fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be an array of sizes");
  Napi::Array a = v.As<Napi::Array>();
  Shape s;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value d = a.Get(i);
    const double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(x >= 0) || std::floor(x) != x) fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" has a bad size");
    s.push_back(static_cast<int64_t>(x));
  }
  return s;
}

DType parse_dtype(const std::string& name) {
  DType d;
  if (dtype_from_name(name, &d) && d != DType::I32) return d;
  size_t n = 0;
  const DTypeInfo* table = dtype_table(&n);
  std::string known;
  for (size_t i = 0; i < n; ++i)
    if (table[i].dtype != DType::I32) known += (known.empty() ? "" : ", ") + std::string(table[i].name);
  fail("E_MODEL_FORMAT", "unsupported stored dtype " + name + " (supported: " + known + ")");
}

HostTensor get_host_tensor(const Napi::Object& obj, const char* key) {
  Napi::Value v = field(obj, key);
  if (!v.IsObject()) fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be {data, shape}");
  Napi::Object t = v.As<Napi::Object>();
  HostTensor out;
  out.shape = get_shape(t, "shape");
  Napi::Value d = t.Get("data");
  if (!d.IsTypedArray() || d.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    fail("E_INVALID_ARGUMENT", std::string("field \"") + key + ".data\" must be a Float32Array");
  Napi::Float32Array arr = d.As<Napi::Float32Array>();
  if (static_cast<int64_t>(arr.ElementLength()) != shape_numel(out.shape))
    fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" has " + std::to_string(arr.ElementLength()) +
                                   " values but shape " + shape_str(out.shape));
  out.data.assign(arr.Data(), arr.Data() + arr.ElementLength());
  return out;
}

std::vector<TensorSpec> get_tensor_specs(const Napi::Array& arr) {
  std::vector<TensorSpec> specs;
  specs.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Object o = arr.Get(i).As<Napi::Object>();
    TensorSpec s;
    s.name = get_string(o, "name");
    s.file = get_string(o, "file");
    s.offset = static_cast<uint64_t>(get_number(o, "offset"));
    s.length = static_cast<uint64_t>(get_number(o, "length"));
    s.dtype = parse_dtype(get_string(o, "dtype"));
    s.shape = get_shape(o, "shape");
    s.scale = static_cast<float>(get_number_or(o, "scale", 1.0));
    specs.push_back(std::move(s));
  }
  return specs;
}

Napi::Object tensor_to_js(Napi::Env env, Backend& backend, const Tensor& t) {
  Napi::Float32Array data = Napi::Float32Array::New(env, static_cast<size_t>(t.numel()));
  backend.download(t, data.Data());
  Napi::Array shape = Napi::Array::New(env, t.shape().size());
  for (size_t i = 0; i < t.shape().size(); ++i) shape.Set(i, Napi::Number::New(env, static_cast<double>(t.shape()[i])));
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", data);
  o.Set("shape", shape);
  return o;
}

Napi::Error to_js_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, code + ": " + message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

}  // namespace wan::napi
