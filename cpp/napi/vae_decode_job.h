#pragma once
// A streaming VAE decode as a device job (napi/device_job.h): one task per chunk on the device
// thread, each chunk's frames handed to a JS callback as soon as they are decoded, and a promise
// settled at the end. If the callback returns a promise, the job runs at most one chunk ahead of
// it: until the consumer catches up the job posts nothing, so the device thread serves other jobs
// (a consumer may itself be waiting for one, e.g. frame interpolation) instead of blocking.
// Cancellation is the job's one token: the caller's cancelFlag, the handle's cancel(), a consumer
// that threw; it is polled before every chunk and inside the long convolutions.
#include <napi.h>

#include <memory>

#include "models/vae/wan_vae.h"
#include "napi/convert.h"

namespace wan::napi {

struct DecodeRequest {
  std::shared_ptr<vae::WanVae> model;
  HostTensor latents;
  bool normalized = false;
  bool rgb8 = true;  // RGB bytes, else float frames in [-1, 1]
};

// Returns {done: Promise<{chunks, frames, seconds}>, cancel(): void}. `cancel_flag`: undefined or
// an Int32Array (see get_cancel_flag).
Napi::Object start_decode_job(Napi::Env env, DecodeRequest request, Napi::Function on_chunk, Napi::Value cancel_flag);

}  // namespace wan::napi
