#pragma once
#include <napi.h>

namespace wan::napi {

// Adds loadRife(plan) and randomRife(config, seed) to the addon's exports.
void register_rife(Napi::Env env, Napi::Object exports);

}  // namespace wan::napi
