#include "napi/clip_vision_wrap.h"

#include "core/error.h"
#include "napi/convert.h"
#include "napi/model_loader.h"
#include "napi/device_job.h"
#include "napi/runtime.h"

namespace wan::napi {

clip::ClipVisionConfig parse_clip_vision_config(const Napi::Object& o) {
  clip::ClipVisionConfig c;
  c.hidden_size = static_cast<int>(get_number(o, "hiddenSize"));
  c.intermediate_size = static_cast<int>(get_number(o, "intermediateSize"));
  c.num_heads = static_cast<int>(get_number(o, "numHeads"));
  c.num_layers = static_cast<int>(get_number(o, "numLayers"));
  c.patch_size = static_cast<int>(get_number(o, "patchSize"));
  c.image_size = static_cast<int>(get_number(o, "imageSize"));
  c.num_channels = static_cast<int>(get_number_or(o, "numChannels", 3));
  c.eps = static_cast<float>(get_number_or(o, "eps", 1e-5));
  return c;
}

Napi::Function ClipVisionWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeImageEncoder",
                     {InstanceMethod<&ClipVisionWrap::Encode>("encode"),
                      InstanceMethod<&ClipVisionWrap::Dispose>("dispose"),
                      InstanceAccessor<&ClipVisionWrap::WeightBytes>("weightBytes")});
}

Napi::Object ClipVisionWrap::Wrap(Napi::Env env, std::shared_ptr<clip::ClipVisionEncoder> model) {
  Napi::Object obj = runtime(env).clip_vision_ctor.New({});
  Unwrap(obj)->model_ = std::move(model);
  return obj;
}

ClipVisionWrap::ClipVisionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ClipVisionWrap>(info) {}

Napi::Value ClipVisionWrap::WeightBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), model_ ? static_cast<double>(model_->weight_bytes()) : 0.0);
}

Napi::Value ClipVisionWrap::Dispose(const Napi::CallbackInfo& info) {
  release_on_device(info.Env(), model_);
  return info.Env().Undefined();
}

// encode({pixelValues: {data, shape}}, {lastLayer}) -> {penultimate, lastHiddenState?}
Napi::Value ClipVisionWrap::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (!model_) fail("E_INVALID_ARGUMENT", "the image encoder was disposed");
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "encode({pixelValues}) needs an object");
    auto pixels = std::make_shared<HostTensor>(get_host_tensor(info[0].As<Napi::Object>(), "pixelValues"));
    const bool last = info.Length() > 1 && info[1].IsObject() && get_bool_or(info[1].As<Napi::Object>(), "lastLayer", false);
    auto model = model_;
    DeviceJob::Options options{"wan-video:image-encode"};
    if (info.Length() > 1 && info[1].IsObject()) options.cancel_flag = get_cancel_flag(info[1].As<Napi::Object>());
    auto penultimate = std::make_shared<HostTensor>();
    auto last_hidden = std::make_shared<HostTensor>();
    auto have_last = std::make_shared<bool>(false);
    return DeviceJob::run(
        env, options,
        [=](DeviceJob& job) {
          Tensor px = job.backend().upload(pixels->data.data(), pixels->shape);
          clip::ClipVisionOutput out = model->forward(px, last);
          *penultimate = download(job.backend(), out.penultimate);
          if (out.last_hidden_state.defined()) {
            *last_hidden = download(job.backend(), out.last_hidden_state);
            *have_last = true;
          }
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object out = Napi::Object::New(e);
          out.Set("penultimate", host_tensor_to_js(e, *penultimate));
          if (*have_last) out.Set("lastHiddenState", host_tensor_to_js(e, *last_hidden));
          return out;
        });
  });
}

namespace {
Napi::Value LoadImageEncoder(const Napi::CallbackInfo& info) {
  return load_from_plan<clip::ClipVisionEncoder>(info, "loadImageEncoder", parse_clip_vision_config, ClipVisionWrap::Wrap);
}
Napi::Value RandomImageEncoder(const Napi::CallbackInfo& info) {
  return load_random<clip::ClipVisionEncoder>(info, "randomImageEncoder", parse_clip_vision_config, ClipVisionWrap::Wrap);
}
}  // namespace

void register_clip_vision(Napi::Env env, Napi::Object exports) {
  runtime(env).clip_vision_ctor = Napi::Persistent(ClipVisionWrap::Define(env));
  exports.Set("loadImageEncoder", Napi::Function::New(env, LoadImageEncoder));
  exports.Set("randomImageEncoder", Napi::Function::New(env, RandomImageEncoder));
}

}  // namespace wan::napi
