#pragma once
// The JS handle of a loaded CLIP vision encoder (Wan2.1 I2V's image encoder): encode() is
// asynchronous, dispose() frees the weights (a call in flight keeps them until it ends).
#include <napi.h>

#include <memory>

#include "models/clip/clip_vision.h"

namespace wan::napi {

class ClipVisionWrap : public Napi::ObjectWrap<ClipVisionWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<clip::ClipVisionEncoder> model);
  explicit ClipVisionWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value WeightBytes(const Napi::CallbackInfo& info);
  std::shared_ptr<clip::ClipVisionEncoder> model_;
};

clip::ClipVisionConfig parse_clip_vision_config(const Napi::Object& cfg);

// loadImageEncoder(plan) and randomImageEncoder(config, seed) on the addon's exports.
void register_clip_vision(Napi::Env env, Napi::Object exports);

}  // namespace wan::napi
