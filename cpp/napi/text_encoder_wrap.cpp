#include "napi/text_encoder_wrap.h"

#include "core/error.h"
#include "napi/convert.h"
#include "napi/device_job.h"
#include "napi/runtime.h"

namespace wan::napi {

umt5::Umt5Config parse_text_encoder_config(const Napi::Object& o) {
  umt5::Umt5Config c;
  c.vocab_size = static_cast<int>(get_number(o, "vocabSize"));
  c.d_model = static_cast<int>(get_number(o, "dModel"));
  c.d_kv = static_cast<int>(get_number(o, "dKv"));
  c.num_heads = static_cast<int>(get_number(o, "numHeads"));
  c.d_ff = static_cast<int>(get_number(o, "dFf"));
  c.num_layers = static_cast<int>(get_number(o, "numLayers"));
  c.num_buckets = static_cast<int>(get_number_or(o, "numBuckets", 32));
  c.max_distance = static_cast<int>(get_number_or(o, "maxDistance", 128));
  c.eps = static_cast<float>(get_number_or(o, "eps", 1e-6));
  return c;
}

Napi::Function TextEncoderWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeTextEncoder",
                     {InstanceMethod<&TextEncoderWrap::Encode>("encode"),
                      InstanceMethod<&TextEncoderWrap::Dispose>("dispose"),
                      InstanceAccessor<&TextEncoderWrap::WeightBytes>("weightBytes")});
}

Napi::Object TextEncoderWrap::Wrap(Napi::Env env, std::shared_ptr<umt5::Umt5Encoder> model) {
  Napi::Object obj = runtime(env).text_encoder_ctor.New({});
  Unwrap(obj)->model_ = std::move(model);
  return obj;
}

TextEncoderWrap::TextEncoderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TextEncoderWrap>(info) {}

Napi::Value TextEncoderWrap::WeightBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), model_ ? static_cast<double>(model_->weight_bytes()) : 0.0);
}

Napi::Value TextEncoderWrap::Dispose(const Napi::CallbackInfo& info) {
  release_on_device(info.Env(), model_);
  return info.Env().Undefined();
}

namespace {
std::vector<int32_t> get_i32(const Napi::Object& o, const char* key, size_t expected) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  if (a.ElementLength() != expected)
    fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" has " + std::to_string(a.ElementLength()) +
                                   " values, expected " + std::to_string(expected));
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}
}  // namespace

Napi::Value TextEncoderWrap::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (!model_) fail("E_INVALID_ARGUMENT", "the text encoder was disposed");
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "encode({ids, mask, shape}) needs an object");
    Napi::Object in = info[0].As<Napi::Object>();
    Shape shape = get_shape(in, "shape");
    if (shape.size() != 2 || shape[0] < 1 || shape[1] < 1)
      fail("E_INVALID_ARGUMENT", "field \"shape\" must be [batch, length]");
    const size_t n = static_cast<size_t>(shape[0] * shape[1]);
    auto ids = std::make_shared<std::vector<int32_t>>(get_i32(in, "ids", n));
    auto mask = std::make_shared<std::vector<int32_t>>(get_i32(in, "mask", n));
    auto model = model_;
    DeviceJob::Options options{"wan-video:text-encode"};
    if (info.Length() > 1 && info[1].IsObject()) options.cancel_flag = get_cancel_flag(info[1].As<Napi::Object>());
    auto result = std::make_shared<HostTensor>();
    return DeviceJob::run(
        env, options,
        [=](DeviceJob& job) { *result = download(job.backend(), model->forward(*ids, *mask, shape[0], shape[1])); },
        [=](Napi::Env e) -> Napi::Value { return host_tensor_to_js(e, *result); });
  });
}

}  // namespace wan::napi
