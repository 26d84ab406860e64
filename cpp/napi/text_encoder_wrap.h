#pragma once
// The JS handle of a loaded UMT5 encoder: encode() is asynchronous, dispose() frees the weights
// (a call in flight keeps them until it ends): the memory policy "release after encoding".
#include <napi.h>

#include <memory>

#include "models/umt5/umt5.h"

namespace wan::napi {

class TextEncoderWrap : public Napi::ObjectWrap<TextEncoderWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<umt5::Umt5Encoder> model);
  explicit TextEncoderWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value WeightBytes(const Napi::CallbackInfo& info);
  std::shared_ptr<umt5::Umt5Encoder> model_;
};

umt5::Umt5Config parse_text_encoder_config(const Napi::Object& cfg);

}  // namespace wan::napi
