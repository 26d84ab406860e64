#pragma once
#include <napi.h>

namespace wan::napi {

// Adds the vae functions to the addon's exports.
void register_vae(Napi::Env env, Napi::Object exports);

}  // namespace wan::napi
