#include "napi/vae_decode_job.h"

#include <atomic>
#include <chrono>

#include "core/error.h"
#include "models/vae/rgb8.h"
#include "napi/device_job.h"

namespace wan::napi {

namespace {

// Chunks handed to JS whose callback has not finished yet; the decoder waits beyond this.
constexpr int kChunksAhead = 2;

struct Decode {
  DecodeRequest request;
  std::unique_ptr<vae::WanVae::DecodeStream> stream;
  std::atomic<int> in_flight{0};
  int64_t chunks = 0, frames = 0;
  std::chrono::steady_clock::time_point t0;
  double seconds = 0;
  bool consumer_failed = false;  // JS thread only
};

// One decoded chunk on its way to JS; the RGB bytes go to a Buffer without a copy where allowed.
struct Chunk {
  vae::DecodedFrames frames;  // pixels emptied when sent as bytes
  uint8_t* rgb = nullptr;
  ~Chunk() { delete[] rgb; }
};

Napi::Object chunk_to_js(Napi::Env env, Chunk& c) {
  const vae::DecodedFrames& f = c.frames;
  Napi::Object o = Napi::Object::New(env);
  o.Set("sample", Napi::Number::New(env, static_cast<double>(f.sample)));
  o.Set("frameStart", Napi::Number::New(env, static_cast<double>(f.first_frame)));
  o.Set("frames", Napi::Number::New(env, static_cast<double>(f.frames)));
  o.Set("height", Napi::Number::New(env, static_cast<double>(f.height)));
  o.Set("width", Napi::Number::New(env, static_cast<double>(f.width)));
  const size_t n = static_cast<size_t>(f.frames * f.height * f.width * 3);
  if (c.rgb) {
    uint8_t* bytes = c.rgb;
    c.rgb = nullptr;  // the Buffer owns them now (or copied them and freed them already)
    o.Set("rgb", Napi::Buffer<uint8_t>::NewOrCopy(env, bytes, n, [](Napi::Env, uint8_t* p) { delete[] p; }));
  } else {
    Napi::Float32Array data = Napi::Float32Array::New(env, n);
    std::copy(f.pixels.begin(), f.pixels.end(), data.Data());
    o.Set("data", data);
  }
  return o;
}

// JS thread: a chunk's consumer is done with it; the decoder may run on.
void consumed(Napi::Env env, const std::shared_ptr<DeviceJob>& job, Decode& d) {
  d.in_flight.fetch_sub(1);
  job->set_referenced(env, true);
  job->resume();
}

void consumer_failed(Napi::Env env, const std::shared_ptr<DeviceJob>& job, Decode& d, Napi::Value error) {
  d.consumer_failed = true;
  job->fail_with(error);
  job->cancel();
  consumed(env, job, d);
}

// JS thread: hands a chunk to the callback and follows the promise it may return.
void deliver(Napi::Env env, Napi::Function on_chunk, const std::shared_ptr<DeviceJob>& job,
             const std::shared_ptr<Decode>& d, Chunk& c) {
  if (d->consumer_failed) return consumed(env, job, *d);
  try {
    Napi::Value result = on_chunk.Call({chunk_to_js(env, c)});
    const bool thenable = result.IsPromise() || (result.IsObject() && result.As<Napi::Object>().Get("then").IsFunction());
    if (!thenable) return consumed(env, job, *d);
    Napi::Object t = result.As<Napi::Object>();
    auto ok = Napi::Function::New(env, [job, d](const Napi::CallbackInfo& info) { consumed(info.Env(), job, *d); });
    auto bad = Napi::Function::New(env, [job, d](const Napi::CallbackInfo& info) {
      consumer_failed(info.Env(), job, *d, info.Length() > 0 ? info[0] : info.Env().Undefined());
    });
    t.Get("then").As<Napi::Function>().Call(t, {ok, bad});
    // While the decoder waits for this consumer, only the consumer can wake it: if nothing else
    // keeps the process alive, the consumer is gone, and the job must not hold the process open.
    if (d->in_flight.load() >= kChunksAhead) job->set_referenced(env, false);
  } catch (const Napi::Error& e) {
    consumer_failed(env, job, *d, e.Value());
  }
}

// Device thread: one chunk per task, or a wait for the consumer.
DeviceJob::Step step(DeviceJob& job, const std::shared_ptr<Decode>& d) {
  job.backend().check_cancel("between VAE chunks");
  const DecodeRequest& r = d->request;
  if (!d->stream) {
    d->t0 = std::chrono::steady_clock::now();
    d->stream = std::make_unique<vae::WanVae::DecodeStream>(*r.model, r.latents.data.data(), r.latents.shape, r.normalized);
  }
  if (d->stream->done()) {
    // Settle once every chunk's consumer is done with it.
    if (d->in_flight.load() > 0) return DeviceJob::Step::Wait;
    d->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - d->t0).count();
    d->stream.reset();
    return DeviceJob::Step::Done;
  }
  if (d->in_flight.load() >= kChunksAhead) return DeviceJob::Step::Wait;
  auto c = std::make_shared<Chunk>();
  c->frames = d->stream->next();
  if (r.rgb8) {
    std::vector<float>& px = c->frames.pixels;
    c->rgb = new uint8_t[px.size()];
    vae::frames_to_rgb8(px.data(), static_cast<int64_t>(px.size()), c->rgb);
    px = std::vector<float>();
  }
  d->chunks += 1;
  d->frames += c->frames.frames;
  d->in_flight.fetch_add(1);
  std::weak_ptr<DeviceJob> weak = job.shared_from_this();
  job.to_js([weak, d, c](Napi::Env env, Napi::Function on_chunk) {
    if (auto j = weak.lock()) deliver(env, on_chunk, j, d, *c);
  });
  return DeviceJob::Step::Again;
}

}  // namespace

Napi::Object start_decode_job(Napi::Env env, DecodeRequest request, Napi::Function on_chunk, Napi::Value cancel_flag) {
  auto d = std::make_shared<Decode>();
  d->request = std::move(request);
  DeviceJob::Options options{"wan-video:vae-decode"};
  options.cancel_flag = cancel_flag;
  options.on_progress = on_chunk;
  auto job = DeviceJob::start(
      env, options, [d](DeviceJob& j) { return step(j, d); },
      [d](Napi::Env e) -> Napi::Value {
        Napi::Object r = Napi::Object::New(e);
        r.Set("chunks", Napi::Number::New(e, static_cast<double>(d->chunks)));
        r.Set("frames", Napi::Number::New(e, static_cast<double>(d->frames)));
        r.Set("seconds", Napi::Number::New(e, d->seconds));
        return r;
      });
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("done", job->promise());
  handle.Set("cancel", Napi::Function::New(env, [job](const Napi::CallbackInfo& info) {
    job->cancel();
    return info.Env().Undefined();
  }));
  return handle;
}

}  // namespace wan::napi
