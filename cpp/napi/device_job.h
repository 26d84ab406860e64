#pragma once
// A native job on its addon instance's device thread (napi/device_queue.h), and its way back to
// JS: a promise it settles, messages to JS in order through one thread-safe function (progress
// events, decoded frames), and its CancelToken, the one cancellation path: it watches the caller's
// cancel flag (an Int32Array that Atomics.store sets) and the device thread's shutdown, and the
// backend polls it while the job's tasks run (Backend::set_cancel).
//
// Every exception is caught here: none may reach Node and abort it. A failed or cancelled job
// rejects with the runtime's code and drops everything its work captured.
#include <napi.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/cancel.h"
#include "core/error.h"
#include "napi/convert.h"

namespace wan {
class Backend;
}

namespace wan::napi {

class DeviceQueue;

class DeviceJob : public std::enable_shared_from_this<DeviceJob> {
 public:
  // What a task of the job asks for next: the end, another task at once, or nothing until resume().
  enum class Step { Done, Again, Wait };
  using Work = std::function<Step(DeviceJob&)>;
  // Builds the promise's value on the JS thread once the work is done.
  using Settle = std::function<Napi::Value(Napi::Env)>;
  // Runs on the JS thread with the job's progress function (empty when none was given).
  using JsCall = std::function<void(Napi::Env, Napi::Function)>;

  struct Options {
    Options(const char* job_name = "wan-video:job") : name(job_name) {}  // NOLINT: implicit on purpose
    const char* name;
    // Undefined, or an Int32Array whose element 0 JS sets (Atomics.store) to cancel.
    Napi::Value cancel_flag;
    Napi::Function on_progress;
  };

  // JS thread: queues the job on the device thread.
  static std::shared_ptr<DeviceJob> start(Napi::Env env, const Options& options, Work work, Settle settle);
  // A job of one task.
  static Napi::Promise run(Napi::Env env, const Options& options, std::function<void(DeviceJob&)> work, Settle settle);

  // JS thread.
  Napi::Promise promise() const;
  // JS thread: the job rejects with this value (e.g. what a consumer threw) instead of its own result.
  void fail_with(Napi::Value error);
  // JS thread: whether the job's thread-safe function keeps the event loop alive.
  void set_referenced(Napi::Env env, bool referenced);

  const CancelToken& cancel_token() const { return token_; }
  Backend& backend() const { return *backend_; }
  // Any thread: raises the job's cancel; a waiting job runs again so that it ends.
  void cancel();
  // Any thread: a job whose task returned Wait runs its next task.
  void resume();
  // Device thread: fn runs on the JS thread, after the messages sent before it.
  void to_js(JsCall fn);

  ~DeviceJob();

 private:
  struct JsSide;
  struct Message;
  static void call_js(Napi::Env env, Napi::Function fn, DeviceJob* job, Message* message);
  using Tsfn = Napi::TypedThreadSafeFunction<DeviceJob, Message, call_js>;

  DeviceJob() = default;
  void run_task();
  void finish();
  void settle(Napi::Env env);

  DeviceQueue* queue_ = nullptr;
  Backend* backend_ = nullptr;
  CancelToken token_;
  Work work_;
  Settle settle_;
  Tsfn tsfn_;
  std::string code_, error_;  // set when the work failed
  std::mutex mu_;
  bool waiting_ = false, resume_pending_ = false;
  std::unique_ptr<JsSide> js_;  // created, used and destroyed on the JS thread only
};

// A backend tensor copied to host memory (on the device thread), for a settle to hand to JS.
HostTensor download(Backend& backend, const Tensor& t);
Napi::Object host_tensor_to_js(Napi::Env env, const HostTensor& t);

// Runs fn on the JS thread, turning runtime exceptions into thrown JS errors with codes.
template <typename Fn>
Napi::Value guarded(Napi::Env env, Fn&& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw to_js_error(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw to_js_error(env, "E_OOM", "out of memory");
  } catch (const std::exception& e) {
    throw to_js_error(env, "E_NATIVE", e.what());
  }
}

// Like guarded(), for calls that return a promise: a synchronous failure (bad arguments) becomes a
// rejected promise, so callers see one failure path.
template <typename Fn>
Napi::Value guarded_promise(Napi::Env env, Fn&& fn) {
  auto reject = [&](const std::string& code, const std::string& message) -> Napi::Value {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(to_js_error(env, code, message).Value());
    return d.Promise();
  };
  try {
    return fn();
  } catch (const Error& e) {
    return reject(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return reject("E_OOM", "out of memory");
  } catch (const Napi::Error& e) {
    return reject("E_INVALID_ARGUMENT", e.Message());
  } catch (const std::exception& e) {
    return reject("E_NATIVE", e.what());
  }
}

// The optional `cancelFlag` field of an options object (undefined when absent), checked.
Napi::Value get_cancel_flag(const Napi::Object& options);

}  // namespace wan::napi
