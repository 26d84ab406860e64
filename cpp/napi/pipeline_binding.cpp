// The pipeline functions of the addon:
//   runScheduler(options) -> Promise<{timesteps, sigmas, samples}>: drives a scheduler over given
//     model outputs on the runtime's backend (conformance and tests; the denoising loop itself runs
//     the same Scheduler natively);
//   randn(seed, shape) -> Float32Array: torch.randn with a CPU generator.
#include "napi/pipeline_binding.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "napi/convert.h"
#include "napi/device_job.h"
#include "napi/runtime.h"
#include "napi/transformer_wrap.h"
#include "pipeline/denoise.h"
#include "pipeline/scheduler.h"
#include "pipeline/torch_randn.h"

namespace wan::napi {

namespace {

using pipeline::SchedulerConfig;
using pipeline::SchedulerKind;

int get_int_or(const Napi::Object& o, const char* key, int fallback) {
  const double v = get_number_or(o, key, static_cast<double>(fallback));
  if (std::floor(v) != v || std::fabs(v) > 1e9)
    fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be an integer");
  return static_cast<int>(v);
}

std::string get_string_or(const Napi::Object& o, const char* key, const std::string& fallback) {
  if (!o.Has(key)) return fallback;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::vector<double> get_numbers(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  std::vector<double> out;
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_float64_array) {
      Napi::Float64Array a = v.As<Napi::Float64Array>();
      out.assign(a.Data(), a.Data() + a.ElementLength());
      return out;
    }
    if (ta.TypedArrayType() == napi_float32_array) {
      Napi::Float32Array a = v.As<Napi::Float32Array>();
      out.assign(a.Data(), a.Data() + a.ElementLength());
      return out;
    }
  }
  if (!v.IsArray()) fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) fail("E_INVALID_ARGUMENT", std::string("field \"") + key + "\" must hold numbers only");
    out.push_back(e.As<Napi::Number>().DoubleValue());
  }
  return out;
}

SchedulerConfig parse_scheduler_config(const Napi::Object& o) {
  SchedulerConfig c;
  const std::string kind = get_string(o, "kind");
  const int n_train = get_int_or(o, "numTrainTimesteps", 1000);
  const std::string grid = get_string_or(o, "sigmaGrid", "diffusers");
  if (grid != "diffusers" && grid != "wan")
    fail("E_INVALID_ARGUMENT", "sigmaGrid must be \"diffusers\" or \"wan\", got \"" + grid + "\"");
  if (kind == "unipc") {
    c.kind = SchedulerKind::UniPC;
    c.unipc.num_train_timesteps = n_train;
    c.unipc.solver_order = get_int_or(o, "solverOrder", 2);
    c.unipc.lower_order_final = get_bool_or(o, "lowerOrderFinal", true);
    const std::string solver = get_string_or(o, "solverType", "bh2");
    if (solver != "bh2")
      fail("E_INVALID_ARGUMENT", "solverType \"" + solver + "\" is not implemented for unipc (only bh2)");
    if (o.Has("disableCorrector") && !o.Get("disableCorrector").IsUndefined() && !o.Get("disableCorrector").IsNull()) {
      for (double v : get_numbers(o, "disableCorrector")) {
        if (std::floor(v) != v || std::fabs(v) > 1e9)
          fail("E_INVALID_ARGUMENT", "disableCorrector must hold step indices (integers)");
        c.unipc.disable_corrector.push_back(static_cast<int>(v));
      }
    }
    c.unipc.sigma_grid = grid == "wan" ? pipeline::SigmaGrid::Wan : pipeline::SigmaGrid::Diffusers;
  } else if (kind == "dpmsolver") {
    c.kind = SchedulerKind::DPMSolver;
    c.dpm.num_train_timesteps = n_train;
    c.dpm.solver_order = get_int_or(o, "solverOrder", 2);
    c.dpm.lower_order_final = get_bool_or(o, "lowerOrderFinal", true);
    c.dpm.euler_at_final = get_bool_or(o, "eulerAtFinal", false);
    const std::string solver = get_string_or(o, "solverType", "midpoint");
    if (solver == "midpoint")
      c.dpm.solver_type = pipeline::DPMSolverType::Midpoint;
    else if (solver == "heun")
      c.dpm.solver_type = pipeline::DPMSolverType::Heun;
    else
      fail("E_INVALID_ARGUMENT", "solverType \"" + solver + "\" is not implemented for dpmsolver (midpoint, heun)");
  } else if (kind == "euler") {
    c.kind = SchedulerKind::FlowMatchEuler;
    c.euler.num_train_timesteps = n_train;
  } else {
    fail("E_INVALID_ARGUMENT", "kind must be \"unipc\", \"dpmsolver\" or \"euler\", got \"" + kind + "\"");
  }
  if (grid == "wan" && c.kind != SchedulerKind::UniPC)
    fail("E_INVALID_ARGUMENT", "sigmaGrid \"wan\" is the official Wan UniPC grid: it needs kind \"unipc\"");
  pipeline::validate_scheduler_config(c);
  return c;
}

Napi::Float32Array to_f32_array(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(float));
  return a;
}

Napi::Value RunScheduler(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "runScheduler(options) needs an object");
    Napi::Object o = info[0].As<Napi::Object>();
    Backend* backend = runtime(env).backend.get();
    // Made and validated here (its schedule is host arithmetic); it runs, and is freed, on the device thread.
    std::shared_ptr<pipeline::Scheduler> scheduler = pipeline::make_scheduler(*backend, parse_scheduler_config(o));

    // The schedule: explicit sigmas, or steps and shift.
    if (o.Has("sigmas") && !o.Get("sigmas").IsUndefined() && !o.Get("sigmas").IsNull()) {
      scheduler->set_sigmas(get_numbers(o, "sigmas"));
    } else {
      const double steps = get_number(o, "steps");
      if (std::floor(steps) != steps || !(std::fabs(steps) < 1e9))
        fail("E_INVALID_ARGUMENT", "steps must be an integer >= 1, got " + std::to_string(steps));
      scheduler->set_timesteps(static_cast<int>(steps), get_number(o, "shift"));
    }

    auto sample = std::make_shared<HostTensor>(get_host_tensor(o, "sample"));
    auto outputs = std::make_shared<HostTensor>(get_host_tensor(o, "modelOutputs"));
    const Shape& ms = outputs->shape;
    if (ms.size() != sample->shape.size() + 1 || !std::equal(sample->shape.begin(), sample->shape.end(), ms.begin() + 1))
      fail("E_INVALID_ARGUMENT", "modelOutputs must have shape [n, ...sample.shape] = [n, " +
                                     shape_str(sample->shape).substr(1) + ", got " + shape_str(ms));
    const int64_t count = ms[0];
    if (count > scheduler->num_steps())
      fail("E_INVALID_ARGUMENT", "modelOutputs holds " + std::to_string(count) + " steps but the schedule has " +
                                     std::to_string(scheduler->num_steps()));

    auto samples = std::make_shared<std::vector<float>>();
    auto timesteps = std::make_shared<std::vector<float>>();
    auto sigmas = std::make_shared<std::vector<float>>();
    return DeviceJob::run(
        env, {"wan-video:scheduler"},
        [=](DeviceJob& job) {
          Backend& backend = job.backend();
          const int64_t n = shape_numel(sample->shape);
          samples->resize(static_cast<size_t>(count * n));
          Tensor x = backend.upload(sample->data.data(), sample->shape);
          for (int64_t i = 0; i < count; ++i) {
            Tensor v = backend.upload(outputs->data.data() + i * n, sample->shape);
            scheduler->step(v, x);
            backend.download(x, samples->data() + i * n);
          }
          *timesteps = scheduler->timesteps();
          *sigmas = scheduler->sigmas();
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("timesteps", to_f32_array(e, *timesteps));
          r.Set("sigmas", to_f32_array(e, *sigmas));
          Napi::Object t = Napi::Object::New(e);
          t.Set("data", to_f32_array(e, *samples));
          Napi::Array shape = Napi::Array::New(e, ms.size());
          for (size_t i = 0; i < ms.size(); ++i) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(e, static_cast<double>(ms[i])));
          t.Set("shape", shape);
          r.Set("samples", t);
          return r;
        });
  });
}

// A seed as torch.Generator.manual_seed takes it: an integer in [0, 2^64 - 1], from a BigInt (any
// such value) or a Number (a safe integer).
uint64_t get_seed(const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless = false;
    const uint64_t s = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) fail("E_INVALID_ARGUMENT", "seed must be an integer from 0 to 2^64 - 1");
    return s;
  }
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || std::floor(d) != d || d > 9007199254740991.0)
      fail("E_INVALID_ARGUMENT", "seed must be a non-negative safe integer (use a BigInt above 2^53 - 1)");
    return static_cast<uint64_t>(d);
  }
  fail("E_INVALID_ARGUMENT", "seed must be a number or a bigint");
}

Napi::Value Randn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[1].IsArray()) fail("E_INVALID_ARGUMENT", "randn(seed, shape) needs a seed and a shape");
    const uint64_t seed = get_seed(info[0]);
    Napi::Array dims = info[1].As<Napi::Array>();
    int64_t numel = 1;
    for (uint32_t i = 0; i < dims.Length(); ++i) {
      Napi::Value d = dims.Get(i);
      const double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
      if (!(x >= 0) || std::floor(x) != x || x > 2147483647.0)
        fail("E_INVALID_ARGUMENT", "shape[" + std::to_string(i) + "] must be a non-negative integer");
      numel *= static_cast<int64_t>(x);
      if (numel > (int64_t{1} << 31)) fail("E_INVALID_ARGUMENT", "randn: shape has more than 2^31 elements");
    }
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(numel));
    pipeline::torch_randn_cpu(seed, out.Data(), numel);
    return out;
  });
}

// The `cache` option of runDenoise: {kind: "none"|"fbcache"|"teacache"|"dbcache", threshold, startStep?,
// endStep?, startCall?, endCall?, maxConsecutive?, coefficients? (TeaCache), indicator? "e"|"e0" (TeaCache),
// fnBlocks?, bnBlocks?, warmupSteps?, warmupInterval?, maxCachedSteps? (DBCache; cache-dit's defaults)}.
pipeline::StepCacheConfig parse_step_cache_fields(const Napi::Object& o);

pipeline::StepCacheConfig parse_step_cache(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return {};
  if (!v.IsObject()) fail("E_INVALID_ARGUMENT", "field \"cache\" must be an object");
  try {
    return parse_step_cache_fields(v.As<Napi::Object>());
  } catch (const Error& e) {
    // The field helpers name `threshold`; the caller wrote `cache.threshold`.
    std::string message = e.what();
    const std::string field = "field \"";
    if (message.rfind(field, 0) == 0) message = field + "cache." + message.substr(field.size());
    throw Error(e.code(), message);
  }
}

pipeline::StepCacheConfig parse_step_cache_fields(const Napi::Object& o) {
  pipeline::StepCacheConfig c;
  const std::string kind = get_string(o, "kind");
  if (kind == "none") return c;
  if (kind == "fbcache") c.kind = pipeline::StepCacheKind::FirstBlock;
  else if (kind == "teacache") c.kind = pipeline::StepCacheKind::TeaCache;
  else if (kind == "dbcache") c.kind = pipeline::StepCacheKind::DualBlock;
  else fail("E_INVALID_ARGUMENT", "cache.kind must be \"none\", \"fbcache\", \"teacache\" or \"dbcache\", got \"" + kind + "\"");
  c.threshold = get_number(o, "threshold");
  c.start_step = get_int_or(o, "startStep", 0);
  c.end_step = get_int_or(o, "endStep", -1);
  c.start_call = get_int_or(o, "startCall", 0);
  c.end_call = get_int_or(o, "endCall", -1);
  c.max_consecutive = get_int_or(o, "maxConsecutive", 0);
  if (c.kind == pipeline::StepCacheKind::DualBlock) {
    pipeline::DualBlockConfig& d = c.dual_block;
    d.fn_blocks = get_int_or(o, "fnBlocks", d.fn_blocks);
    d.bn_blocks = get_int_or(o, "bnBlocks", d.bn_blocks);
    d.warmup_steps = get_int_or(o, "warmupSteps", d.warmup_steps);
    d.warmup_interval = get_int_or(o, "warmupInterval", d.warmup_interval);
    d.max_cached_steps = get_int_or(o, "maxCachedSteps", d.max_cached_steps);
  }
  if (c.kind == pipeline::StepCacheKind::TeaCache) {
    if (!o.Has("coefficients") || o.Get("coefficients").IsUndefined())
      fail("E_INVALID_ARGUMENT", "cache.coefficients: TeaCache needs its rescaling polynomial (highest power first)");
    c.coefficients = get_numbers(o, "coefficients");
    const std::string indicator = get_string_or(o, "indicator", "e");
    if (indicator == "e") c.indicator = pipeline::TeaCacheIndicator::TimeEmbedding;
    else if (indicator == "e0") c.indicator = pipeline::TeaCacheIndicator::TimeProjection;
    else fail("E_INVALID_ARGUMENT", "cache.indicator must be \"e\" or \"e0\", got \"" + indicator + "\"");
  }
  pipeline::validate_step_cache_config(c);
  return c;
}

}  // namespace

// runDenoise(options) -> Promise<{latents, timesteps, experts, forwards, computed, stepMs, calls:
//   {computed, accumulated}, latentsPerStep?}>
Napi::Value RunDenoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "runDenoise(options) needs an object");
    Napi::Object o = info[0].As<Napi::Object>();
    auto high = TransformerWrap::model_of(env, o.Get("transformer"), "transformer");
    std::shared_ptr<dit::WanDit> low;
    if (o.Has("transformer2") && !o.Get("transformer2").IsUndefined() && !o.Get("transformer2").IsNull())
      low = TransformerWrap::model_of(env, o.Get("transformer2"), "transformer2");
    pipeline::DenoiseConfig cfg;
    if (!o.Get("scheduler").IsObject()) fail("E_INVALID_ARGUMENT", "field \"scheduler\" must be an object");
    cfg.scheduler = parse_scheduler_config(o.Get("scheduler").As<Napi::Object>());
    cfg.steps = get_int_or(o, "steps", 50);
    cfg.shift = get_number(o, "shift");
    if (o.Has("sigmas") && !o.Get("sigmas").IsUndefined() && !o.Get("sigmas").IsNull()) cfg.sigmas = get_numbers(o, "sigmas");
    cfg.guidance_scale = static_cast<float>(get_number(o, "guidanceScale"));
    cfg.guidance_scale_2 = static_cast<float>(get_number_or(o, "guidanceScale2", cfg.guidance_scale));
    cfg.boundary_timestep = get_number_or(o, "boundaryTimestep", -1);
    cfg.cache = parse_step_cache(o.Get("cache"));
    if (o.Has("previewSteps") && !o.Get("previewSteps").IsUndefined() && !o.Get("previewSteps").IsNull())
      for (double v : get_numbers(o, "previewSteps")) cfg.preview_steps.push_back(static_cast<int>(v));
    const bool per_token = get_bool_or(o, "perTokenTimesteps", false);
    const bool record = get_bool_or(o, "recordSteps", false);
    auto optional = [&](const char* key) -> std::shared_ptr<HostTensor> {
      if (!o.Has(key) || o.Get(key).IsUndefined() || o.Get(key).IsNull()) return nullptr;
      return std::make_shared<HostTensor>(get_host_tensor(o, key));
    };
    auto latents = std::make_shared<HostTensor>(get_host_tensor(o, "latents"));
    auto prompt = std::make_shared<HostTensor>(get_host_tensor(o, "promptEmbeds"));
    auto negative = optional("negativeEmbeds");
    auto image = optional("contextImage");
    auto channel = optional("channelCondition");
    auto first = optional("firstFrameCondition");
    DeviceJob::Options options{"wan-video:denoise"};
    options.cancel_flag = get_cancel_flag(o);
    // Step events cross back through the job's thread-safe function; a throwing listener cannot stop the loop.
    if (o.Has("onStep") && o.Get("onStep").IsFunction()) options.on_progress = o.Get("onStep").As<Napi::Function>();

    struct Result {
      HostTensor latents;
      std::vector<float> timesteps, step_ms;
      std::vector<int> experts, forwards, computed;
      std::vector<pipeline::CacheCall> calls;
      std::vector<float> per_step;  // host copies of the latents after each step
      std::vector<std::pair<int, HostTensor>> previews;  // (step, x0) copied to the host
    };
    auto result = std::make_shared<Result>();
    return DeviceJob::run(
        env, options,
        [=](DeviceJob& job) {
          Backend& backend = job.backend();
          pipeline::DenoiseInputs in;
          in.latents = backend.upload(latents->data.data(), latents->shape);
          in.prompt_embeds = backend.upload(prompt->data.data(), prompt->shape);
          if (negative) in.negative_embeds = backend.upload(negative->data.data(), negative->shape);
          if (image) in.context_image = backend.upload(image->data.data(), image->shape);
          if (channel) in.channel_condition = backend.upload(channel->data.data(), channel->shape);
          if (first) in.first_frame_condition = backend.upload(first->data.data(), first->shape);
          in.per_token_timesteps = per_token;
          const size_t n = latents->data.size();
          pipeline::DenoiseResult done = pipeline::denoise(
              backend, *high, low.get(), cfg, std::move(in), [&](const pipeline::StepEvent& ev, const Tensor& lat) {
                job.to_js([ev](Napi::Env e, Napi::Function fn) {
                  if (fn.IsEmpty()) return;
                  Napi::Object o = Napi::Object::New(e);
                  o.Set("index", ev.index);
                  o.Set("total", ev.total);
                  o.Set("timestep", ev.timestep);
                  o.Set("expert", ev.expert);
                  o.Set("forwards", ev.forwards);
                  o.Set("computed", ev.computed);
                  o.Set("ms", ev.ms);
                  fn.Call({o});
                });
                result->timesteps.push_back(ev.timestep);
                result->experts.push_back(ev.expert);
                result->forwards.push_back(ev.forwards);
                result->computed.push_back(ev.computed);
                result->step_ms.push_back(static_cast<float>(ev.ms));
                if (record) {
                  result->per_step.resize(result->per_step.size() + n);
                  backend.download(lat, result->per_step.data() + result->per_step.size() - n);
                }
              });
          result->latents = download(backend, done.latents);
          result->calls = std::move(done.calls);
          for (const auto& p : done.previews) result->previews.emplace_back(p.step, download(backend, p.x0));
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object out = Napi::Object::New(e);
          out.Set("latents", host_tensor_to_js(e, result->latents));
          auto numbers = [&](const auto& v) {
            Napi::Array a = Napi::Array::New(e, v.size());
            for (size_t i = 0; i < v.size(); ++i) a.Set(i, Napi::Number::New(e, static_cast<double>(v[i])));
            return a;
          };
          out.Set("timesteps", numbers(result->timesteps));
          out.Set("experts", numbers(result->experts));
          out.Set("forwards", numbers(result->forwards));
          out.Set("computed", numbers(result->computed));
          Napi::Object calls = Napi::Object::New(e);
          Napi::Array call_computed = Napi::Array::New(e, result->calls.size());
          Napi::Float64Array accumulated = Napi::Float64Array::New(e, result->calls.size());
          for (size_t i = 0; i < result->calls.size(); ++i) {
            call_computed.Set(i, Napi::Boolean::New(e, result->calls[i].computed));
            accumulated[i] = result->calls[i].accumulated;
          }
          calls.Set("computed", call_computed);
          calls.Set("accumulated", accumulated);
          out.Set("calls", calls);
          out.Set("stepMs", numbers(result->step_ms));
          Napi::Array previews = Napi::Array::New(e, result->previews.size());
          for (size_t i = 0; i < result->previews.size(); ++i) {
            Napi::Object p = Napi::Object::New(e);
            p.Set("step", result->previews[i].first);
            p.Set("latents", host_tensor_to_js(e, result->previews[i].second));
            previews.Set(i, p);
          }
          out.Set("previews", previews);
          if (record) {
            Napi::Float32Array data = Napi::Float32Array::New(e, result->per_step.size());
            std::copy(result->per_step.begin(), result->per_step.end(), data.Data());
            out.Set("latentsPerStep", data);
          }
          return out;
        });
  });
}

void register_pipeline(Napi::Env env, Napi::Object exports) {
  exports.Set("runDenoise", Napi::Function::New(env, RunDenoise));
  exports.Set("runScheduler", Napi::Function::New(env, RunScheduler));
  exports.Set("randn", Napi::Function::New(env, Randn));
}

}  // namespace wan::napi
