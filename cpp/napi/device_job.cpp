#include "napi/device_job.h"

#include <algorithm>
#include <new>

#include "napi/device_queue.h"
#include "napi/runtime.h"
#include "ops/backend.h"

namespace wan::napi {

// What only the JS thread may touch: N-API references are not thread-safe.
struct DeviceJob::JsSide {
  Napi::Promise::Deferred deferred;
  Napi::Reference<Napi::Value> cancel_flag;  // keeps the flag's buffer alive while the job runs
  Napi::Reference<Napi::Value> error;        // fail_with()
  bool referenced = true;
  explicit JsSide(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

struct DeviceJob::Message {
  std::shared_ptr<DeviceJob> job;  // alive until JS has run the message
  JsCall fn;
  bool final = false;
};

std::shared_ptr<DeviceJob> DeviceJob::start(Napi::Env env, const Options& options, Work work, Settle settle) {
  Runtime& rt = runtime(env);
  std::shared_ptr<DeviceJob> job(new DeviceJob());
  job->queue_ = rt.device.get();
  job->backend_ = rt.backend.get();
  job->work_ = std::move(work);
  job->settle_ = std::move(settle);
  job->js_ = std::make_unique<JsSide>(env);
  job->token_.watch(&rt.device->shutdown_flag());
  Napi::Value flag = options.cancel_flag;
  if (!flag.IsEmpty() && !flag.IsUndefined() && !flag.IsNull()) {
    job->token_.watch(flag.As<Napi::Int32Array>().Data());
    job->js_->cancel_flag = Napi::Persistent(flag);
  }
  job->tsfn_ = options.on_progress.IsEmpty() ? Tsfn::New(env, options.name, 0, 1, job.get())
                                             : Tsfn::New(env, options.on_progress, options.name, 0, 1, job.get());
  job->queue_->post([job] { job->run_task(); });
  return job;
}

Napi::Promise DeviceJob::run(Napi::Env env, const Options& options, std::function<void(DeviceJob&)> work,
                             Settle settle) {
  auto job = start(
      env, options,
      [work = std::move(work)](DeviceJob& j) {
        work(j);
        return Step::Done;
      },
      std::move(settle));
  return job->promise();
}

DeviceJob::~DeviceJob() {
  // Settled jobs dropped theirs on the JS thread; this one's environment went away first, and its
  // references must not be touched from here.
  (void)js_.release();
}

Napi::Promise DeviceJob::promise() const { return js_->deferred.Promise(); }

void DeviceJob::fail_with(Napi::Value error) {
  if (js_ && js_->error.IsEmpty()) js_->error = Napi::Persistent(error);
}

void DeviceJob::set_referenced(Napi::Env env, bool referenced) {
  if (!js_ || js_->referenced == referenced) return;
  if (referenced) tsfn_.Ref(env);
  else tsfn_.Unref(env);
  js_->referenced = referenced;
}

void DeviceJob::cancel() {
  token_.cancel();
  resume();
}

void DeviceJob::resume() {
  bool post = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (waiting_) {
      waiting_ = false;
      post = true;
    } else {
      resume_pending_ = true;
    }
  }
  if (post) {
    auto self = shared_from_this();
    queue_->post_next([self] { self->run_task(); });
  }
}

void DeviceJob::to_js(JsCall fn) {
  auto* m = new Message{shared_from_this(), std::move(fn), false};
  if (tsfn_.BlockingCall(m) != napi_ok) delete m;
}

void DeviceJob::run_task() {
  Step step = Step::Done;
  {
    CancelScope scope(*backend_, &token_);
    try {
      // Cancelled while queued (its own cancel, its signal, or the thread shutting down): it does
      // not start, so a shutdown never waits for queued loads to run out.
      token_.check("before it ran");
      step = work_(*this);
      // A device backend's kernels may still run: a fault they raise belongs to this job, and a job
      // that reports success has finished its work.
      if (step == Step::Done) backend_->synchronize();
    } catch (const Error& e) {
      code_ = e.code();
      error_ = e.what();
    } catch (const std::bad_alloc&) {
      code_ = "E_OOM";
      error_ = "out of memory";
    } catch (const std::exception& e) {
      code_ = "E_NATIVE";
      error_ = e.what();
    }
  }
  if (!code_.empty() || step == Step::Done) return finish();
  auto self = shared_from_this();
  if (step == Step::Again) return queue_->post_next([self] { self->run_task(); });
  std::lock_guard<std::mutex> lock(mu_);
  if (resume_pending_) {
    resume_pending_ = false;
    queue_->post_next([self] { self->run_task(); });
  } else {
    waiting_ = true;
  }
}

void DeviceJob::finish() {
  // What the work captured (inputs, device tensors) is freed here, on the device thread.
  work_ = nullptr;
  auto* m = new Message{shared_from_this(), nullptr, true};
  if (tsfn_.BlockingCall(m) != napi_ok) delete m;
  tsfn_.Release();
}

void DeviceJob::settle(Napi::Env env) {
  std::unique_ptr<JsSide> js = std::move(js_);
  if (!js) return;
  Settle settle = std::move(settle_);
  if (!js->error.IsEmpty()) {
    js->deferred.Reject(js->error.Value());
    return;
  }
  if (!code_.empty()) {
    js->deferred.Reject(to_js_error(env, code_, error_).Value());
    return;
  }
  try {
    js->deferred.Resolve(settle ? settle(env) : env.Undefined());
  } catch (const Napi::Error& e) {
    js->deferred.Reject(e.Value());
  } catch (const Error& e) {
    js->deferred.Reject(to_js_error(env, e.code(), e.what()).Value());
  } catch (const std::exception& e) {
    js->deferred.Reject(to_js_error(env, "E_NATIVE", e.what()).Value());
  }
}

void DeviceJob::call_js(Napi::Env env, Napi::Function fn, DeviceJob*, Message* raw) {
  std::unique_ptr<Message> m(raw);
  DeviceJob* job = m->job.get();
  if (!env) return;  // the environment is going away: nothing to call
  Napi::HandleScope scope(env);
  if (m->final) {
    job->settle(env);
    return;
  }
  try {
    m->fn(env, fn);
  } catch (const Napi::Error&) {
    // a listener's problem, not the job's (a job that cares records it with fail_with)
  } catch (const std::exception&) {
  }
}

HostTensor download(Backend& backend, const Tensor& t) {
  HostTensor h;
  h.shape = t.shape();
  h.data.resize(static_cast<size_t>(t.numel()));
  if (!h.data.empty()) backend.download(t, h.data.data());
  return h;
}

Napi::Object host_tensor_to_js(Napi::Env env, const HostTensor& t) {
  Napi::Float32Array data = Napi::Float32Array::New(env, t.data.size());
  std::copy(t.data.begin(), t.data.end(), data.Data());
  Napi::Array shape = Napi::Array::New(env, t.shape.size());
  for (size_t i = 0; i < t.shape.size(); ++i) shape.Set(static_cast<uint32_t>(i), static_cast<double>(t.shape[i]));
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", data);
  o.Set("shape", shape);
  return o;
}

Napi::Value get_cancel_flag(const Napi::Object& options) {
  if (!options.Has("cancelFlag")) return options.Env().Undefined();
  Napi::Value v = options.Get("cancelFlag");
  if (v.IsUndefined() || v.IsNull()) return options.Env().Undefined();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      v.As<Napi::Int32Array>().ElementLength() < 1)
    fail("E_INVALID_ARGUMENT", "field \"cancelFlag\" must be an Int32Array of at least one element");
  return v;
}

}  // namespace wan::napi
