#pragma once
// A streaming VAE decode: runs on its own thread (a decode is long work, kept off the libuv pool),
// hands each chunk's frames to a JS callback through a thread-safe function, and settles a promise
// at the end. If the callback returns a promise, the job waits for it before running more than one
// chunk ahead, so a slow consumer holds back the decoder instead of piling up frames. cancel() is
// checked between chunks.
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

// Returns {done: Promise<{chunks, frames, seconds}>, cancel(): void}.
Napi::Object start_decode_job(Napi::Env env, DecodeRequest request, Napi::Function on_chunk);

}  // namespace wan::napi
