#include "napi/vae_decode_job.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <new>
#include <thread>

#include "core/error.h"
#include "models/vae/rgb8.h"

namespace wan::napi {

namespace {

// Chunks handed to JS whose callback has not finished yet; the decoder waits beyond this.
constexpr int kChunksAhead = 2;

struct Message;
void call_js(Napi::Env env, Napi::Function, std::nullptr_t*, Message* raw);
using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Message, call_js>;

// What only the JS thread may touch (references are not thread-safe).
struct JsSide {
  Napi::FunctionReference on_chunk;
  Napi::Promise::Deferred deferred;
  Napi::Reference<Napi::Value> callback_error;
  Tsfn tsfn;
  // While the decoder waits for a consumer, only the consumer can wake it: if nothing else keeps
  // the process alive, the consumer is gone, and the job must not hold the process open.
  bool unreferenced = false;
  explicit JsSide(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

struct Job {
  DecodeRequest request;
  std::atomic<bool> cancel{false};
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  std::unique_ptr<JsSide> js;

  void chunk_consumed() {
    std::lock_guard<std::mutex> lock(mu);
    --in_flight;
    cv.notify_all();
  }
  int chunks_in_flight() {
    std::lock_guard<std::mutex> lock(mu);
    return in_flight;
  }
  // JS thread: a consumer's promise settled.
  void consumer_settled(Napi::Env env) {
    chunk_consumed();
    if (js && js->unreferenced) {
      js->tsfn.Ref(env);
      js->unreferenced = false;
    }
  }
  void request_cancel() {
    cancel = true;
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  }
};

struct Message {
  std::shared_ptr<Job> job;
  bool done = false;
  vae::DecodedFrames frames;  // pixels emptied when sent as bytes
  uint8_t* rgb = nullptr;     // owned until handed to a Buffer
  std::string code, error;    // done with an error
  int64_t chunks = 0, total_frames = 0;
  double seconds = 0.0;
  ~Message() { delete[] rgb; }
};

Napi::Object chunk_to_js(Napi::Env env, Message& m) {
  const vae::DecodedFrames& f = m.frames;
  Napi::Object o = Napi::Object::New(env);
  o.Set("sample", Napi::Number::New(env, static_cast<double>(f.sample)));
  o.Set("frameStart", Napi::Number::New(env, static_cast<double>(f.first_frame)));
  o.Set("frames", Napi::Number::New(env, static_cast<double>(f.frames)));
  o.Set("height", Napi::Number::New(env, static_cast<double>(f.height)));
  o.Set("width", Napi::Number::New(env, static_cast<double>(f.width)));
  const size_t n = static_cast<size_t>(f.frames * f.height * f.width * 3);
  if (m.rgb) {
    uint8_t* bytes = m.rgb;
    m.rgb = nullptr;  // the Buffer owns them now (or copied them and freed them already)
    o.Set("rgb", Napi::Buffer<uint8_t>::NewOrCopy(env, bytes, n, [](Napi::Env, uint8_t* p) { delete[] p; }));
  } else {
    Napi::Float32Array data = Napi::Float32Array::New(env, n);
    std::copy(f.pixels.begin(), f.pixels.end(), data.Data());
    o.Set("data", data);
  }
  return o;
}

void record_callback_error(Job& job, Napi::Value error) {
  if (job.js && job.js->callback_error.IsEmpty()) job.js->callback_error = Napi::Persistent(error);
  job.request_cancel();
}

void deliver_chunk(Napi::Env env, const std::shared_ptr<Job>& job, Message& m) {
  if (!job->js || !job->js->callback_error.IsEmpty()) {
    job->chunk_consumed();
    return;
  }
  try {
    Napi::Value result = job->js->on_chunk.Call({chunk_to_js(env, m)});
    if (result.IsPromise() || (result.IsObject() && result.As<Napi::Object>().Get("then").IsFunction())) {
      Napi::Object thenable = result.As<Napi::Object>();
      auto consumed = Napi::Function::New(env, [job](const Napi::CallbackInfo& info) { job->consumer_settled(info.Env()); });
      auto failed = Napi::Function::New(env, [job](const Napi::CallbackInfo& info) {
        record_callback_error(*job, info.Length() > 0 ? info[0] : info.Env().Undefined());
        job->consumer_settled(info.Env());
      });
      thenable.Get("then").As<Napi::Function>().Call(thenable, {consumed, failed});
      if (job->js && !job->js->unreferenced && job->chunks_in_flight() >= kChunksAhead) {
        job->js->tsfn.Unref(env);
        job->js->unreferenced = true;
      }
    } else {
      job->chunk_consumed();
    }
  } catch (const Napi::Error& e) {
    record_callback_error(*job, e.Value());
    job->chunk_consumed();
  }
}

void settle(Napi::Env env, const std::shared_ptr<Job>& job, Message& m) {
  std::unique_ptr<JsSide> js = std::move(job->js);
  if (!js) return;
  if (!js->callback_error.IsEmpty()) {
    js->deferred.Reject(js->callback_error.Value());
  } else if (!m.code.empty()) {
    js->deferred.Reject(to_js_error(env, m.code, m.error).Value());
  } else {
    Napi::Object r = Napi::Object::New(env);
    r.Set("chunks", Napi::Number::New(env, static_cast<double>(m.chunks)));
    r.Set("frames", Napi::Number::New(env, static_cast<double>(m.total_frames)));
    r.Set("seconds", Napi::Number::New(env, m.seconds));
    js->deferred.Resolve(r);
  }
}

void call_js(Napi::Env env, Napi::Function, std::nullptr_t*, Message* raw) {
  std::unique_ptr<Message> m(raw);
  if (!env) {
    // The environment is going away: nothing to call; let the decoder run out.
    m->job->request_cancel();
    if (!m->done) m->job->chunk_consumed();
    return;
  }
  Napi::HandleScope scope(env);
  if (m->done)
    settle(env, m->job, *m);
  else
    deliver_chunk(env, m->job, *m);
}

void run(std::shared_ptr<Job> job, Tsfn tsfn) {
  auto done = std::make_unique<Message>();
  done->job = job;
  done->done = true;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    const DecodeRequest& r = job->request;
    auto sink = [&](vae::DecodedFrames&& f) {
      {
        std::unique_lock<std::mutex> lock(job->mu);
        job->cv.wait(lock, [&] { return job->in_flight < kChunksAhead || job->cancel; });
        if (job->cancel) fail("E_CANCELLED", "the VAE decode was cancelled");
        ++job->in_flight;
      }
      auto m = std::make_unique<Message>();
      m->job = job;
      if (r.rgb8) {
        m->rgb = new uint8_t[f.pixels.size()];
        vae::frames_to_rgb8(f.pixels.data(), static_cast<int64_t>(f.pixels.size()), m->rgb);
        f.pixels = std::vector<float>();
      }
      done->chunks += 1;
      done->total_frames += f.frames;
      m->frames = std::move(f);
      if (tsfn.BlockingCall(m.get()) == napi_ok) m.release();
      else job->chunk_consumed();
    };
    r.model->decode(r.latents.data.data(), r.latents.shape, r.normalized, sink, &job->cancel);
  } catch (const Error& e) {
    done->code = e.code();
    done->error = e.what();
  } catch (const std::bad_alloc&) {
    done->code = "E_OOM";
    done->error = "out of memory";
  } catch (const std::exception& e) {
    done->code = "E_NATIVE";
    done->error = e.what();
  }
  done->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Frames that belong to no one are not waited for: a cancelled job settles at once.
  if (tsfn.BlockingCall(done.get()) == napi_ok) done.release();
  tsfn.Release();
}

}  // namespace

Napi::Object start_decode_job(Napi::Env env, DecodeRequest request, Napi::Function on_chunk) {
  auto job = std::make_shared<Job>();
  job->request = std::move(request);
  job->js = std::make_unique<JsSide>(env);
  job->js->on_chunk = Napi::Persistent(on_chunk);
  Napi::Promise promise = job->js->deferred.Promise();
  Tsfn tsfn = Tsfn::New(env, "wan-video:vae-decode", 0, 1, nullptr);
  job->js->tsfn = tsfn;
  std::thread(run, job, tsfn).detach();

  Napi::Object handle = Napi::Object::New(env);
  handle.Set("done", promise);
  handle.Set("cancel", Napi::Function::New(env, [job](const Napi::CallbackInfo& info) {
    job->request_cancel();
    return info.Env().Undefined();
  }));
  return handle;
}

}  // namespace wan::napi
