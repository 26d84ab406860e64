#pragma once
// Runs native work off the JS thread and settles a promise with its result, or with an error that
// carries the runtime's code. Every exception is caught here: none may reach Node and abort it.
#include <napi.h>

#include <functional>
#include <new>
#include <string>

#include "core/error.h"
#include "napi/convert.h"

namespace wan::napi {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Settle = std::function<Napi::Value(Napi::Env)>;

  // `work` runs on a worker thread; `settle` builds the resolved value on the JS thread.
  static Napi::Promise Start(Napi::Env env, Work work, Settle settle) {
    auto* w = new PromiseWorker(env, std::move(work), std::move(settle));
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const Error& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "E_OOM";
      SetError("out of memory");
    } catch (const std::exception& e) {
      code_ = "E_NATIVE";
      SetError(e.what());
    }
  }
  void OnOK() override {
    try {
      deferred_.Resolve(settle_(Env()));
    } catch (const Error& e) {
      deferred_.Reject(to_js_error(Env(), e.code(), e.what()).Value());
    } catch (const std::exception& e) {
      deferred_.Reject(to_js_error(Env(), "E_NATIVE", e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    deferred_.Reject(to_js_error(Env(), code_, e.Message()).Value());
  }

 private:
  PromiseWorker(Napi::Env env, Work work, Settle settle)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        settle_(std::move(settle)) {}

  Napi::Promise::Deferred deferred_;
  Work work_;
  Settle settle_;
  std::string code_ = "E_NATIVE";
};

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

}  // namespace wan::napi
