// The addon's surface: info(), loadTransformer(plan), randomTransformer(config, seed).
// TypeScript validates everything first; this layer only converts and reports codes.
#include <napi.h>

#include <cstdlib>

#include "backends/cpu/gemm.h"
#include "core/error.h"
#include "io/weight_source.h"
#include "napi/clip_vision_wrap.h"
#include "napi/weight_probe.h"
#include "napi/convert.h"
#include "napi/model_loader.h"
#include "napi/device_job.h"
#include "napi/runtime.h"
#include "napi/pipeline_binding.h"
#include "napi/rife_binding.h"
#include "napi/text_encoder_wrap.h"
#include "napi/transformer_wrap.h"
#include "napi/vae_binding.h"

#ifdef WAN_WITH_CUDA
#include "backends/cuda/make_cuda_backend.h"
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
    o.Set("backendReason", runtime(env).backend_reason);
    if (bi.name == "cuda") {
      Napi::Object mem = Napi::Object::New(env);
      mem.Set("inUse", static_cast<double>(bi.memory.in_use));
      mem.Set("peak", static_cast<double>(bi.memory.peak));
      mem.Set("cached", static_cast<double>(bi.memory.cached));
      mem.Set("free", static_cast<double>(bi.memory.device_free));
      mem.Set("total", static_cast<double>(bi.memory.device_total));
      o.Set("deviceMemory", mem);
    }
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
  return load_from_plan<dit::WanDit>(info, "loadTransformer", parse_transformer_config, TransformerWrap::Wrap);
}

Napi::Value RandomTransformer(const Napi::CallbackInfo& info) {
  return load_random<dit::WanDit>(info, "randomTransformer", parse_transformer_config, TransformerWrap::Wrap);
}

Napi::Value LoadTextEncoder(const Napi::CallbackInfo& info) {
  return load_from_plan<umt5::Umt5Encoder>(info, "loadTextEncoder", parse_text_encoder_config, TextEncoderWrap::Wrap);
}

Napi::Value RandomTextEncoder(const Napi::CallbackInfo& info) {
  return load_random<umt5::Umt5Encoder>(info, "randomTextEncoder", parse_text_encoder_config, TextEncoderWrap::Wrap);
}

// setCpuPrecision('bf16' | 'f32'): the CPU backend's opt-in bf16 dot products (as
// WAN_VIDEO_CPU_PRECISION sets them at start), for loads and forwards after the call. Returns the
// precision in effect ('f32' where the CPU has no bf16 kernel, and on a non-CPU backend).
Napi::Value SetCpuPrecision(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const std::string p = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    if (p != "bf16" && p != "f32") fail("E_INVALID_ARGUMENT", "setCpuPrecision: expected \"bf16\" or \"f32\", got \"" + p + "\"");
    const bool on = runtime(env).backend->set_bf16_dot(p == "bf16");
    return Napi::String::New(env, on ? "bf16" : "f32");
  });
}

// setFp8Gemm(on): the CUDA backend's opt-in fp8 GEMM for fp8-e4m3 weights (as WAN_VIDEO_FP8_GEMM=1
// sets it at start), for products after the call. Returns whether it is on: false on the CPU, and
// on a device without it (compute capability below 8.9, no cuBLASLt); info().gemm says why.
Napi::Value SetFp8Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsBoolean())
      fail("E_INVALID_ARGUMENT", "setFp8Gemm: expected a boolean");
    return Napi::Boolean::New(env, runtime(env).backend->set_fp8_gemm(info[0].As<Napi::Boolean>().Value()));
  });
}

int thread_count_from_env() {
  const char* v = std::getenv("WAN_VIDEO_THREADS");
  return v ? std::atoi(v) : 0;
}

// The CUDA addon runs on the device when one answers and WAN_VIDEO_DEVICE is not "cpu"; every
// other case (the CPU addon, no device, a device too old) gets the CPU backend, and says why.
void make_backend(Runtime& rt) {
#ifdef WAN_WITH_CUDA
  const char* pref = std::getenv("WAN_VIDEO_DEVICE");
  if (pref && std::string(pref) == "cpu") {
    rt.backend_reason = "WAN_VIDEO_DEVICE=cpu";
  } else {
    std::string why;
    rt.backend = cuda::make_cuda_backend(cuda::cuda_device_from_env(), &why);
    if (rt.backend) {
      rt.backend_reason = "CUDA device " + std::to_string(cuda::cuda_device_from_env()) + " answered";
      return;
    }
    rt.backend_reason = "CUDA build, but " + why;
  }
#else
  rt.backend_reason = "CPU-only build";
#endif
  rt.backend = make_cpu_backend(thread_count_from_env());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* rt = new Runtime();
  make_backend(*rt);
  rt->transformer_ctor = Napi::Persistent(TransformerWrap::Define(env));
  rt->text_encoder_ctor = Napi::Persistent(TextEncoderWrap::Define(env));
  env.SetInstanceData<Runtime>(rt);
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("loadTransformer", Napi::Function::New(env, LoadTransformer));
  exports.Set("randomTransformer", Napi::Function::New(env, RandomTransformer));
  exports.Set("loadTextEncoder", Napi::Function::New(env, LoadTextEncoder));
  exports.Set("randomTextEncoder", Napi::Function::New(env, RandomTextEncoder));
  register_vae(env, exports);
  register_rife(env, exports);
  register_pipeline(env, exports);
  register_clip_vision(env, exports);
  register_weight_probe(env, exports);
  exports.Set("setCpuPrecision", Napi::Function::New(env, SetCpuPrecision));
  exports.Set("setFp8Gemm", Napi::Function::New(env, SetFp8Gemm));
  return exports;
}

}  // namespace
}  // namespace wan::napi

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return wan::napi::Init(env, exports); }
NODE_API_MODULE(wan_video, InitAddon)
