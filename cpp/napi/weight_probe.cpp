// probeWeight({tensor, x?}): one stored tensor loaded the way a model loads a linear() weight
// (Backend::load_weight, WeightUse::Matrix: the CPU keeps it compressed, CUDA as it chooses), read
// back widened to float32, and, given x [M, K], y = x @ W^T through the backend's linear(). The
// check of dequantization and of the compressed products on their own (conformance kind
// gguf_dequant); nothing else uses it.
#include "napi/weight_probe.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "core/error.h"
#include "io/weight_source.h"
#include "napi/convert.h"
#include "napi/device_job.h"
#include "napi/runtime.h"

namespace wan::napi {

namespace {

Napi::Object host_to_js(Napi::Env env, const std::vector<float>& data, const Shape& shape) {
  Napi::Float32Array arr = Napi::Float32Array::New(env, data.size());
  std::copy(data.begin(), data.end(), arr.Data());
  Napi::Array s = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) s.Set(i, static_cast<double>(shape[i]));
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", arr);
  o.Set("shape", s);
  return o;
}

Napi::Value ProbeWeight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "probeWeight({tensor, x?}) needs an object");
    Napi::Object o = info[0].As<Napi::Object>();
    if (!o.Get("tensor").IsObject()) fail("E_INVALID_ARGUMENT", "probeWeight needs \"tensor\" (a tensor spec)");
    Napi::Array one = Napi::Array::New(env, 1);
    one.Set(0u, o.Get("tensor"));
    auto specs = std::make_shared<std::vector<TensorSpec>>(get_tensor_specs(one));
    std::shared_ptr<HostTensor> x;
    if (o.Has("x") && o.Get("x").IsObject()) x = std::make_shared<HostTensor>(get_host_tensor(o, "x"));
    const TensorSpec spec = specs->front();
    if (x && (spec.shape.size() != 2 || x->shape.empty() || x->shape.back() != spec.shape[1]))
      fail("E_INVALID_ARGUMENT", "probeWeight: x " + shape_str(x ? x->shape : Shape{}) + " does not fit the weight " +
                                     shape_str(spec.shape));
    Backend* backend = runtime(env).backend.get();
    auto weight = std::make_shared<std::vector<float>>();
    auto y = std::make_shared<std::vector<float>>();
    auto y_shape = std::make_shared<Shape>();
    return DeviceJob::run(
        env, {"wan-video:probe-weight"},
        [=](DeviceJob&) {
          PlanWeightSource src(*backend, *specs);
          Tensor w = src.take(spec.name, spec.shape, WeightUse::Matrix);
          src.finish();
          weight->resize(static_cast<size_t>(w.numel()));
          backend->download(w, weight->data());
          if (x) {
            Tensor xt = backend->upload(x->data.data(), x->shape);
            *y_shape = x->shape;
            y_shape->back() = spec.shape[0];
            Tensor yt = backend->empty(*y_shape);
            backend->linear(xt, w, nullptr, Activation::None, yt);
            y->resize(static_cast<size_t>(yt.numel()));
            backend->download(yt, y->data());
          }
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object out = Napi::Object::New(e);
          out.Set("weight", host_to_js(e, *weight, spec.shape));
          if (x) out.Set("y", host_to_js(e, *y, *y_shape));
          return out;
        });
  });
}

}  // namespace

void register_weight_probe(Napi::Env env, Napi::Object exports) {
  exports.Set("probeWeight", Napi::Function::New(env, ProbeWeight));
}

}  // namespace wan::napi
