// The addon's surface: info(), loadTransformer(plan), randomTransformer(config, seed).
// TypeScript validates everything first; this layer only converts and reports codes.
#include <napi.h>

#include <cstdlib>

#include "backends/cpu/gemm.h"
#include "core/error.h"
#include "io/weight_source.h"
#include "napi/convert.h"
#include "napi/promise_worker.h"
#include "napi/runtime.h"
#include "napi/pipeline_binding.h"
#include "napi/text_encoder_wrap.h"
#include "napi/transformer_wrap.h"
#include "napi/vae_binding.h"

#ifdef WAN_WITH_CUDA
#include "cuda/device_query.h"
#endif

namespace wan::napi {

Runtime& runtime(Napi::Env env) { return *env.GetInstanceData<Runtime>(); }

namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    BackendInfo bi = runtime(env).backend->info();
    Napi::Object o = Napi::Object::New(env);
    o.Set("backend", bi.name);
    o.Set("gemm", bi.gemm);
    o.Set("device", bi.device);
    o.Set("threads", bi.threads);
    const char* blas = cpu::blas_library();
    o.Set("blas", blas ? Napi::Value(Napi::String::New(env, blas)) : env.Null());
#ifdef WAN_WITH_CUDA
    o.Set("cudaBuild", true);
    Napi::Array devices = Napi::Array::New(env);
    std::string error;
    auto list = cuda::list_devices(&error);
    for (size_t i = 0; i < list.size(); ++i) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("name", list[i].name);
      d.Set("computeCapability", list[i].compute_capability);
      d.Set("memoryBytes", static_cast<double>(list[i].memory_bytes));
      devices.Set(i, d);
    }
    o.Set("cudaDevices", devices);
    o.Set("cudaError", error.empty() ? env.Null() : Napi::Value(Napi::String::New(env, error)));
#else
    o.Set("cudaBuild", false);
#endif
    return o;
  });
}

Napi::Value LoadTransformer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "loadTransformer(plan) needs a plan");
    Napi::Object plan = info[0].As<Napi::Object>();
    if (!plan.Get("config").IsObject() || !plan.Get("tensors").IsArray())
      fail("E_INVALID_ARGUMENT", "plan needs config and tensors");
    auto config = parse_transformer_config(plan.Get("config").As<Napi::Object>());
    auto specs = std::make_shared<std::vector<TensorSpec>>(get_tensor_specs(plan.Get("tensors").As<Napi::Array>()));
    Backend* backend = runtime(env).backend.get();
    auto model = std::make_shared<std::shared_ptr<dit::WanDit>>();
    return PromiseWorker::Start(
        env,
        [=]() {
          PlanWeightSource src(*backend, std::move(*specs));
          *model = std::make_shared<dit::WanDit>(*backend, config, src);
        },
        [=](Napi::Env e) -> Napi::Value { return TransformerWrap::Wrap(e, *model); });
  });
}

Napi::Value RandomTransformer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "randomTransformer(config, seed)");
    auto config = parse_transformer_config(info[0].As<Napi::Object>());
    const uint64_t seed = info.Length() > 1 && info[1].IsNumber()
                              ? static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value())
                              : 0;
    Backend* backend = runtime(env).backend.get();
    auto model = std::make_shared<std::shared_ptr<dit::WanDit>>();
    return PromiseWorker::Start(
        env,
        [=]() {
          RandomWeightSource src(*backend, seed, 0.02f);
          *model = std::make_shared<dit::WanDit>(*backend, config, src);
        },
        [=](Napi::Env e) -> Napi::Value { return TransformerWrap::Wrap(e, *model); });
  });
}

Napi::Value LoadTextEncoder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "loadTextEncoder(plan) needs a plan");
    Napi::Object plan = info[0].As<Napi::Object>();
    if (!plan.Get("config").IsObject() || !plan.Get("tensors").IsArray())
      fail("E_INVALID_ARGUMENT", "plan needs config and tensors");
    auto config = parse_text_encoder_config(plan.Get("config").As<Napi::Object>());
    auto specs = std::make_shared<std::vector<TensorSpec>>(get_tensor_specs(plan.Get("tensors").As<Napi::Array>()));
    Backend* backend = runtime(env).backend.get();
    auto model = std::make_shared<std::shared_ptr<umt5::Umt5Encoder>>();
    return PromiseWorker::Start(
        env,
        [=]() {
          PlanWeightSource src(*backend, std::move(*specs));
          *model = std::make_shared<umt5::Umt5Encoder>(*backend, config, src);
        },
        [=](Napi::Env e) -> Napi::Value { return TextEncoderWrap::Wrap(e, *model); });
  });
}

Napi::Value RandomTextEncoder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "randomTextEncoder(config, seed)");
    auto config = parse_text_encoder_config(info[0].As<Napi::Object>());
    const uint64_t seed = info.Length() > 1 && info[1].IsNumber()
                              ? static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value())
                              : 0;
    Backend* backend = runtime(env).backend.get();
    const bool share_layers = info.Length() > 2 && info[2].IsObject() &&
                              get_bool_or(info[2].As<Napi::Object>(), "shareLayers", false);
    auto model = std::make_shared<std::shared_ptr<umt5::Umt5Encoder>>();
    return PromiseWorker::Start(
        env,
        [=]() {
          RandomWeightSource src(*backend, seed, 0.02f, share_layers);
          *model = std::make_shared<umt5::Umt5Encoder>(*backend, config, src);
        },
        [=](Napi::Env e) -> Napi::Value { return TextEncoderWrap::Wrap(e, *model); });
  });
}

int thread_count_from_env() {
  const char* v = std::getenv("WAN_VIDEO_THREADS");
  return v ? std::atoi(v) : 0;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* rt = new Runtime();
  rt->backend = make_cpu_backend(thread_count_from_env());
  rt->transformer_ctor = Napi::Persistent(TransformerWrap::Define(env));
  rt->text_encoder_ctor = Napi::Persistent(TextEncoderWrap::Define(env));
  env.SetInstanceData<Runtime>(rt);
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("loadTransformer", Napi::Function::New(env, LoadTransformer));
  exports.Set("randomTransformer", Napi::Function::New(env, RandomTransformer));
  exports.Set("loadTextEncoder", Napi::Function::New(env, LoadTextEncoder));
  exports.Set("randomTextEncoder", Napi::Function::New(env, RandomTextEncoder));
  register_vae(env, exports);
  register_pipeline(env, exports);
  return exports;
}

}  // namespace
}  // namespace wan::napi

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return wan::napi::Init(env, exports); }
NODE_API_MODULE(wan_video, InitAddon)
