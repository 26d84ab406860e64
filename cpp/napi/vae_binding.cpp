#include "napi/vae_binding.h"

namespace wan::napi {

void register_vae(Napi::Env, Napi::Object) {}

}  // namespace wan::napi
