#pragma once
// The two ways a model handle is made, shared by every model the addon exposes:
//   loadX(plan)                      weights from the TypeScript plan's byte ranges;
//   randomX(config, seed, options)   deterministic random weights (benchmarks).
// Both build the model on the device thread (napi/device_queue.h) and resolve with its JS handle.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/weight_source.h"
#include "napi/convert.h"
#include "napi/device_job.h"
#include "napi/runtime.h"

namespace wan::napi {

// parse(Napi::Object) -> Config; wrap(Napi::Env, std::shared_ptr<Model>) -> Napi::Object;
// Model is constructed as Model(Backend&, const Config&, WeightSource&).
template <typename Model, typename Parse, typename WrapFn>
Napi::Value load_from_plan(const Napi::CallbackInfo& info, const char* fn, Parse parse, WrapFn wrap) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", std::string(fn) + "(plan) needs a plan");
    Napi::Object plan = info[0].As<Napi::Object>();
    if (!plan.Get("config").IsObject() || !plan.Get("tensors").IsArray())
      fail("E_INVALID_ARGUMENT", "plan needs config and tensors");
    auto config = parse(plan.Get("config").As<Napi::Object>());
    auto specs = std::make_shared<std::vector<TensorSpec>>(get_tensor_specs(plan.Get("tensors").As<Napi::Array>()));
    Backend* backend = runtime(env).backend.get();
    auto model = std::make_shared<std::shared_ptr<Model>>();
    return DeviceJob::run(
        env, {fn},
        [=](DeviceJob&) {
          PlanWeightSource src(*backend, std::move(*specs));
          *model = std::make_shared<Model>(*backend, config, src);
        },
        [=](Napi::Env e) -> Napi::Value { return wrap(e, *model); });
  });
}

// options.shareLayers: every numbered layer gets layer 0's tensors (see RandomWeightSource).
template <typename Model, typename Parse, typename WrapFn>
Napi::Value load_random(const Napi::CallbackInfo& info, const char* fn, Parse parse, WrapFn wrap) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", std::string(fn) + "(config, seed) needs a config");
    auto config = parse(info[0].As<Napi::Object>());
    const uint64_t seed =
        info.Length() > 1 && info[1].IsNumber() ? static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value()) : 0;
    const bool share_layers =
        info.Length() > 2 && info[2].IsObject() && get_bool_or(info[2].As<Napi::Object>(), "shareLayers", false);
    // matrixDtype "BF16": the linear() weights as a bf16 checkpoint would hand them over.
    DType matrix_dtype = DType::F32;
    if (info.Length() > 2 && info[2].IsObject() && info[2].As<Napi::Object>().Has("matrixDtype"))
      matrix_dtype = parse_dtype(get_string(info[2].As<Napi::Object>(), "matrixDtype"));
    Backend* backend = runtime(env).backend.get();
    auto model = std::make_shared<std::shared_ptr<Model>>();
    return DeviceJob::run(
        env, {fn},
        [=](DeviceJob&) {
          RandomWeightSource src(*backend, seed, 0.02f, share_layers, matrix_dtype);
          *model = std::make_shared<Model>(*backend, config, src);
        },
        [=](Napi::Env e) -> Napi::Value { return wrap(e, *model); });
  });
}

}  // namespace wan::napi
