#pragma once
// Per-addon-instance state: the backend every model of this process runs on.
#include <napi.h>

#include <memory>
#include <string>

#include "napi/device_queue.h"
#include "ops/backend.h"

namespace wan::napi {

struct Runtime {
  std::unique_ptr<Backend> backend;
  // The backend's job thread; declared after it, so it stops (and runs out its tasks) first.
  std::unique_ptr<DeviceQueue> device = std::make_unique<DeviceQueue>();
  std::string backend_reason;  // why this backend (info().backendReason)
  Napi::FunctionReference transformer_ctor;
  Napi::FunctionReference text_encoder_ctor;
  Napi::FunctionReference vae_ctor;
  Napi::FunctionReference clip_vision_ctor;
  Napi::FunctionReference rife_ctor;
};

Runtime& runtime(Napi::Env env);

// Drops a model's last JS-side reference on the device thread, after the jobs queued before it:
// its memory is freed where its work runs, never under a job that still uses it, and the backend's
// cache trimmed when that was the last reference.
template <typename T>
void release_on_device(Napi::Env env, std::shared_ptr<T>& model) {
  if (!model) return;
  Backend* backend = runtime(env).backend.get();  // outlives the queue's tasks (Runtime's member order)
  runtime(env).device->post([m = std::move(model), backend]() mutable {
    const bool last = m.use_count() == 1;
    m.reset();
    // A disposed model's memory goes back to the device, not only to this backend's cache, so that
    // other processes and addon instances can have it.
    if (last && backend) backend->trim();
  });
}

}  // namespace wan::napi
