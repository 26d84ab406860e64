#include "napi/pipeline_binding.h"

namespace wan::napi {

void register_pipeline(Napi::Env, Napi::Object) {}

}  // namespace wan::napi
