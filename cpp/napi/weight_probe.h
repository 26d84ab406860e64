#pragma once
// probeWeight: a stored tensor through Backend::load_weight, download and linear (see the .cpp).
#include <napi.h>

namespace wan::napi {

void register_weight_probe(Napi::Env env, Napi::Object exports);

}  // namespace wan::napi
