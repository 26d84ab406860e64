#pragma once
// Per-addon-instance state: the backend every model of this process runs on.
#include <napi.h>

#include <memory>
#include <string>

#include "ops/backend.h"

namespace wan::napi {

struct Runtime {
  std::unique_ptr<Backend> backend;
  std::string backend_reason;  // why this backend (info().backendReason)
  Napi::FunctionReference transformer_ctor;
  Napi::FunctionReference text_encoder_ctor;
  Napi::FunctionReference vae_ctor;
  Napi::FunctionReference rife_ctor;
};

Runtime& runtime(Napi::Env env);

}  // namespace wan::napi
