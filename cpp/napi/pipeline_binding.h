#pragma once
#include <napi.h>

namespace wan::napi {

// Adds the pipeline functions to the addon's exports.
void register_pipeline(Napi::Env env, Napi::Object exports);

}  // namespace wan::napi
