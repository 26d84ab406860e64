// The RIFE interpolator's handle: interpolate(frames, options) runs the pairs of a run of
// consecutive frames on a worker thread and resolves with the in-between frames.
#include "napi/rife_binding.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "models/rife/rife.h"
#include "napi/convert.h"
#include "napi/model_loader.h"
#include "napi/device_job.h"
#include "napi/runtime.h"

namespace wan::napi {

namespace {

rife::RifeConfig parse_rife_config(const Napi::Object& o) {
  rife::RifeConfig c;
  c.head_hidden = static_cast<int>(get_number(o, "headHidden"));
  c.head_channels = static_cast<int>(get_number(o, "headChannels"));
  Napi::Value v = o.Get("blockWidths");
  if (!v.IsArray()) fail("E_INVALID_ARGUMENT", "field \"blockWidths\" must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  c.block_widths.clear();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) fail("E_INVALID_ARGUMENT", "field \"blockWidths\" must be an array of numbers");
    c.block_widths.push_back(static_cast<int>(e.As<Napi::Number>().Int32Value()));
  }
  return c;
}

struct InterpolateJob {
  std::shared_ptr<rife::Rife> model;
  std::vector<float> frames;  // [K, H, W, 3] in [0, 1]
  int64_t count = 0, height = 0, width = 0;
  std::vector<float> timesteps;
  bool rgb8 = true, debug = false;
  int64_t pad_multiple = 0;  // 0: the model's own
  // results, [(K - 1) * T, H, W, C] in pair-major order
  std::vector<float> out;
  std::vector<uint8_t> out_rgb;
  std::vector<float> flow, mask;
  double seconds = 0;
};

// Copies the first `height` rows of `width` pixels of a padded [1, Hp, Wp, C] backend tensor.
void crop_into(Backend& be, const Tensor& t, int64_t height, int64_t width, int64_t channel, int64_t channels,
               std::vector<float>& scratch, float* dst) {
  const int64_t Wp = t.dim(2), C = t.dim(3);
  scratch.resize(static_cast<size_t>(t.numel()));
  be.download(t, scratch.data());
  for (int64_t h = 0; h < height; ++h)
    for (int64_t w = 0; w < width; ++w)
      for (int64_t c = 0; c < channels; ++c) dst[(h * width + w) * channels + c] = scratch[(h * Wp + w) * C + channel + c];
}

void run(InterpolateJob& j) {
  const auto t0 = std::chrono::steady_clock::now();
  rife::Rife& m = *j.model;
  Backend& be = m.backend();
  const int64_t T = static_cast<int64_t>(j.timesteps.size()), plane = j.height * j.width;
  const int64_t outputs = (j.count - 1) * T;
  std::vector<float> frames(static_cast<size_t>(outputs * plane * 3));
  if (j.debug) {
    j.flow.resize(static_cast<size_t>(outputs * plane * 4));
    j.mask.resize(static_cast<size_t>(outputs * plane));
  }
  std::vector<float> scratch;
  rife::PreparedFrame prev = m.prepare(j.frames.data(), j.height, j.width, j.pad_multiple);
  for (int64_t k = 1; k < j.count; ++k) {
    rife::PreparedFrame next = m.prepare(j.frames.data() + k * plane * 3, j.height, j.width, j.pad_multiple);
    for (int64_t i = 0; i < T; ++i) {
      const int64_t o = (k - 1) * T + i;
      rife::Interpolated r = m.interpolate(prev, next, j.timesteps[i]);
      crop_into(be, r.frame, j.height, j.width, 0, 3, scratch, frames.data() + o * plane * 3);
      if (j.debug) {
        crop_into(be, r.flow, j.height, j.width, 0, 4, scratch, j.flow.data() + o * plane * 4);
        crop_into(be, r.block, j.height, j.width, 4, 1, scratch, j.mask.data() + o * plane);
      }
    }
    prev = std::move(next);
  }
  if (j.rgb8) {
    // Rounded to nearest (ties to even); Practical-RIFE's scripts truncate with .byte().
    j.out_rgb.resize(frames.size());
    for (size_t i = 0; i < frames.size(); ++i)
      j.out_rgb[i] = static_cast<uint8_t>(std::nearbyint(std::min(1.0f, std::max(0.0f, frames[i])) * 255.0f));
  } else {
    j.out = std::move(frames);
  }
  j.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Napi::Float32Array to_f32(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

class RifeWrap : public Napi::ObjectWrap<RifeWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeRife",
                       {InstanceMethod<&RifeWrap::Interpolate>("interpolate"), InstanceMethod<&RifeWrap::Dispose>("dispose"),
                        InstanceAccessor<&RifeWrap::WeightBytes>("weightBytes"),
                        InstanceAccessor<&RifeWrap::PadMultiple>("padMultiple")});
  }
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<rife::Rife> model) {
    Napi::Object obj = runtime(env).rife_ctor.New({});
    Unwrap(obj)->model_ = std::move(model);
    return obj;
  }
  explicit RifeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RifeWrap>(info) {}

 private:
  // interpolate({data: Uint8Array | Float32Array, shape: [K, H, W, 3]}, {timesteps, format, debug, padMultiple})
  //   -> Promise<{frames: Buffer | Float32Array [(K-1)*T, H, W, 3], flow?, mask?, seconds}>
  Napi::Value Interpolate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded_promise(env, [&]() -> Napi::Value {
      if (!model_) fail("E_INVALID_ARGUMENT", "the interpolator was disposed");
      if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject())
        fail("E_INVALID_ARGUMENT", "interpolate(frames, options) needs {data, shape} and an options object");
      Napi::Object in = info[0].As<Napi::Object>(), opts = info[1].As<Napi::Object>();
      auto job = std::make_shared<InterpolateJob>();
      job->model = model_;
      const Shape shape = get_shape(in, "shape");
      if (shape.size() != 4 || shape[3] != 3 || shape[0] < 2 || shape[1] < 1 || shape[2] < 1)
        fail("E_INVALID_ARGUMENT", "frames: shape must be [K >= 2, height, width, 3], got " + shape_str(shape));
      job->count = shape[0];
      job->height = shape[1];
      job->width = shape[2];
      const int64_t n = shape_numel(shape);
      Napi::Value d = in.Get("data");
      if (!d.IsTypedArray()) fail("E_INVALID_ARGUMENT", "frames.data must be a Uint8Array or a Float32Array");
      Napi::TypedArray ta = d.As<Napi::TypedArray>();
      if (static_cast<int64_t>(ta.ElementLength()) != n)
        fail("E_INVALID_ARGUMENT", "frames.data has " + std::to_string(ta.ElementLength()) + " values but shape " + shape_str(shape));
      job->frames.resize(static_cast<size_t>(n));
      if (ta.TypedArrayType() == napi_uint8_array) {
        const uint8_t* src = d.As<Napi::Uint8Array>().Data();
        for (int64_t i = 0; i < n; ++i) job->frames[i] = static_cast<float>(src[i]) / 255.0f;  // torch: .float() / 255.
      } else if (ta.TypedArrayType() == napi_float32_array) {
        const float* src = d.As<Napi::Float32Array>().Data();
        std::copy(src, src + n, job->frames.begin());
      } else {
        fail("E_INVALID_ARGUMENT", "frames.data must be a Uint8Array or a Float32Array");
      }
      Napi::Value ts = opts.Get("timesteps");
      if (!ts.IsArray() || ts.As<Napi::Array>().Length() == 0)
        fail("E_INVALID_ARGUMENT", "field \"timesteps\" must be a non-empty array of numbers in [0, 1]");
      Napi::Array ta2 = ts.As<Napi::Array>();
      for (uint32_t i = 0; i < ta2.Length(); ++i) {
        Napi::Value e = ta2.Get(i);
        const double t = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1.0;
        if (!(t >= 0.0 && t <= 1.0)) fail("E_INVALID_ARGUMENT", "field \"timesteps\" must be a non-empty array of numbers in [0, 1]");
        job->timesteps.push_back(static_cast<float>(t));
      }
      const std::string format = opts.Has("format") ? get_string(opts, "format") : "rgb8";
      if (format != "rgb8" && format != "float") fail("E_INVALID_ARGUMENT", "field \"format\" must be \"rgb8\" or \"float\"");
      job->rgb8 = format == "rgb8";
      job->debug = get_bool_or(opts, "debug", false);
      job->pad_multiple = static_cast<int64_t>(get_number_or(opts, "padMultiple", 0));
      DeviceJob::Options options{"wan-video:interpolate"};
      options.cancel_flag = get_cancel_flag(opts);
      return DeviceJob::run(
          env, options, [job](DeviceJob&) { run(*job); },
          [job](Napi::Env e) -> Napi::Value {
            Napi::Object o = Napi::Object::New(e);
            if (job->rgb8)
              o.Set("frames", Napi::Buffer<uint8_t>::Copy(e, job->out_rgb.data(), job->out_rgb.size()));
            else
              o.Set("frames", to_f32(e, job->out));
            if (job->debug) {
              o.Set("flow", to_f32(e, job->flow));
              o.Set("mask", to_f32(e, job->mask));
            }
            o.Set("seconds", job->seconds);
            return o;
          });
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release_on_device(info.Env(), model_);  // a job in flight holds its own reference
    return info.Env().Undefined();
  }

  Napi::Value WeightBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), model_ ? static_cast<double>(model_->weight_bytes()) : 0.0);
  }

  Napi::Value PadMultiple(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), model_ ? model_->config().pad_multiple() : 0);
  }

  std::shared_ptr<rife::Rife> model_;
};

Napi::Value LoadRife(const Napi::CallbackInfo& info) {
  return load_from_plan<rife::Rife>(info, "loadRife", parse_rife_config, RifeWrap::Wrap);
}

Napi::Value RandomRife(const Napi::CallbackInfo& info) {
  return load_random<rife::Rife>(info, "randomRife", parse_rife_config, RifeWrap::Wrap);
}

}  // namespace

void register_rife(Napi::Env env, Napi::Object exports) {
  runtime(env).rife_ctor = Napi::Persistent(RifeWrap::Define(env));
  exports.Set("loadRife", Napi::Function::New(env, LoadRife));
  exports.Set("randomRife", Napi::Function::New(env, RandomRife));
}

}  // namespace wan::napi
