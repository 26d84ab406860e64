#include "napi/vae_binding.h"

#include <memory>

#include "core/error.h"
#include "models/vae/wan_vae.h"
#include "napi/convert.h"
#include "napi/model_loader.h"
#include "napi/device_job.h"
#include "napi/runtime.h"
#include "napi/vae_decode_job.h"

namespace wan::napi {

namespace {

std::vector<double> get_numbers(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  std::vector<double> out;
  if (v.IsNull() || v.IsUndefined()) return out;
  if (!v.IsArray()) fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber() && !e.IsBoolean())
      fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be an array of numbers");
    out.push_back(e.IsBoolean() ? (e.As<Napi::Boolean>().Value() ? 1.0 : 0.0) : e.As<Napi::Number>().DoubleValue());
  }
  return out;
}

vae::WanVaeConfig parse_vae_config(const Napi::Object& o) {
  vae::WanVaeConfig c;
  c.base_dim = static_cast<int>(get_number(o, "baseDim"));
  c.decoder_base_dim = static_cast<int>(get_number_or(o, "decoderBaseDim", c.base_dim));
  c.z_dim = static_cast<int>(get_number(o, "zDim"));
  c.dim_mult.clear();
  for (double d : get_numbers(o, "dimMult")) c.dim_mult.push_back(static_cast<int>(d));
  c.num_res_blocks = static_cast<int>(get_number(o, "numResBlocks"));
  c.temperal_downsample.clear();
  for (double d : get_numbers(o, "temperalDownsample")) c.temperal_downsample.push_back(d != 0.0);
  c.is_residual = get_bool_or(o, "isResidual", false);
  c.in_channels = static_cast<int>(get_number(o, "inChannels"));
  c.out_channels = static_cast<int>(get_number(o, "outChannels"));
  c.patch_size = static_cast<int>(get_number_or(o, "patchSize", 1));
  for (double d : get_numbers(o, "latentsMean")) c.latents_mean.push_back(static_cast<float>(d));
  for (double d : get_numbers(o, "latentsStd")) c.latents_std.push_back(static_cast<float>(d));
  c.with_encoder = get_bool_or(o, "withEncoder", true);
  c.with_decoder = get_bool_or(o, "withDecoder", true);
  if (c.dim_mult.empty() || c.base_dim < 1 || c.decoder_base_dim < 1 || c.z_dim < 1 || c.num_res_blocks < 1)
    fail("E_INVALID_ARGUMENT", "VAE config: sizes must be positive and dimMult non-empty");
  return c;
}

class VaeWrap : public Napi::ObjectWrap<VaeWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeVae",
                       {InstanceMethod<&VaeWrap::Decode>("decode"), InstanceMethod<&VaeWrap::Encode>("encode"),
                        InstanceMethod<&VaeWrap::Dispose>("dispose"),
                        InstanceAccessor<&VaeWrap::WeightBytes>("weightBytes")});
  }
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<vae::WanVae> model) {
    Napi::Object obj = runtime(env).vae_ctor.New({});
    Unwrap(obj)->model_ = std::move(model);
    return obj;
  }
  explicit VaeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VaeWrap>(info) {}

 private:
  std::shared_ptr<vae::WanVae> model(Napi::Env) const {
    if (!model_) fail("E_INVALID_ARGUMENT", "the VAE was disposed");
    return model_;
  }

  // decode({data, shape}, {normalized, format, cancelFlag?}, onChunk) -> {done, cancel}
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsObject() || !info[2].IsFunction())
        fail("E_INVALID_ARGUMENT", "decode(latents, options, onChunk) needs a tensor, an options object and a function");
      Napi::Object in = Napi::Object::New(env);
      in.Set("latents", info[0]);
      Napi::Object opts = info[1].As<Napi::Object>();
      DecodeRequest r;
      r.model = model(env);
      r.latents = get_host_tensor(in, "latents");
      r.normalized = get_bool_or(opts, "normalized", false);
      const std::string format = opts.Has("format") ? get_string(opts, "format") : "rgb8";
      if (format != "rgb8" && format != "float")
        fail("E_INVALID_ARGUMENT", "field \"format\" must be \"rgb8\" or \"float\"");
      r.rgb8 = format == "rgb8";
      return start_decode_job(env, std::move(r), info[2].As<Napi::Function>(), get_cancel_flag(opts));
    });
  }

  // encode({data, shape}, {cancelFlag?}) -> Promise<{mean, logvar}>
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded_promise(env, [&]() -> Napi::Value {
      if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "encode(video) needs a tensor");
      Napi::Object in = Napi::Object::New(env);
      in.Set("video", info[0]);
      auto video = std::make_shared<HostTensor>(get_host_tensor(in, "video"));
      auto m = model(env);
      DeviceJob::Options options{"wan-video:vae-encode"};
      if (info.Length() > 1 && info[1].IsObject()) options.cancel_flag = get_cancel_flag(info[1].As<Napi::Object>());
      auto post = std::make_shared<vae::Posterior>();
      return DeviceJob::run(
          env, options, [=](DeviceJob&) { *post = m->encode(video->data.data(), video->shape); },
          [=](Napi::Env e) -> Napi::Value {
            Napi::Object out = Napi::Object::New(e);
            out.Set("mean", host_tensor_to_js(e, HostTensor{post->mean, post->shape}));
            out.Set("logvar", host_tensor_to_js(e, HostTensor{post->logvar, post->shape}));
            return out;
          });
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release_on_device(info.Env(), model_);  // a job in flight holds its own reference
    return info.Env().Undefined();
  }

  Napi::Value WeightBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), model_ ? static_cast<double>(model_->weight_bytes()) : 0.0);
  }

  std::shared_ptr<vae::WanVae> model_;
};

Napi::Value LoadVae(const Napi::CallbackInfo& info) {
  return load_from_plan<vae::WanVae>(info, "loadVae", parse_vae_config, VaeWrap::Wrap);
}

Napi::Value RandomVae(const Napi::CallbackInfo& info) {
  return load_random<vae::WanVae>(info, "randomVae", parse_vae_config, VaeWrap::Wrap);
}

}  // namespace

void register_vae(Napi::Env env, Napi::Object exports) {
  runtime(env).vae_ctor = Napi::Persistent(VaeWrap::Define(env));
  exports.Set("loadVae", Napi::Function::New(env, LoadVae));
  exports.Set("randomVae", Napi::Function::New(env, RandomVae));
}

}  // namespace wan::napi
