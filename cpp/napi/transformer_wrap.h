#pragma once
// The JS handle of a loaded transformer: forward() is asynchronous, dispose() frees the weights
// once no forward still uses them.
#include <napi.h>

#include <memory>

#include "models/dit/wan_dit.h"
#include "pipeline/lora_merge.h"

namespace wan::napi {

struct Runtime;

class TransformerWrap : public Napi::ObjectWrap<TransformerWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<dit::WanDit> model);
  explicit TransformerWrap(const Napi::CallbackInfo& info);
  // The model behind a JS NativeTransformer; E_INVALID_ARGUMENT naming `what` if it is not one or
  // was disposed.
  static std::shared_ptr<dit::WanDit> model_of(Napi::Env env, Napi::Value value, const char* what);

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value WeightBytes(const Napi::CallbackInfo& info);
  Napi::Value ApplyLoras(const Napi::CallbackInfo& info);
  Napi::Value ClearLoras(const Napi::CallbackInfo& info);
  Napi::Value LoraBaseBytes(const Napi::CallbackInfo& info);
  Napi::Value ReadWeight(const Napi::CallbackInfo& info);
  std::shared_ptr<dit::WanDit> model_;
  // Created on the first applyLoras: the base copies of the weights LoRAs touched.
  std::shared_ptr<pipeline::WeightPatcher> lora_;
  // The patcher's base_bytes() as of the last merge or clear that settled: the patcher itself is
  // changed on the device thread, so the JS thread reads this copy, set where those jobs settle.
  std::shared_ptr<size_t> lora_base_bytes_ = std::make_shared<size_t>(0);
};

dit::WanDitConfig parse_transformer_config(const Napi::Object& cfg);

}  // namespace wan::napi
