#include "napi/transformer_wrap.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "napi/convert.h"
#include "napi/device_job.h"
#include "napi/runtime.h"

namespace wan::napi {

dit::WanDitConfig parse_transformer_config(const Napi::Object& o) {
  dit::WanDitConfig c;
  Shape patch = get_shape(o, "patchSize");
  if (patch.size() != 3) fail("E_INVALID_ARGUMENT", "config.patchSize must have 3 entries");
  c.patch_t = static_cast<int>(patch[0]);
  c.patch_h = static_cast<int>(patch[1]);
  c.patch_w = static_cast<int>(patch[2]);
  c.num_heads = static_cast<int>(get_number(o, "numHeads"));
  c.head_dim = static_cast<int>(get_number(o, "headDim"));
  c.in_channels = static_cast<int>(get_number(o, "inChannels"));
  c.out_channels = static_cast<int>(get_number(o, "outChannels"));
  c.text_dim = static_cast<int>(get_number(o, "textDim"));
  c.freq_dim = static_cast<int>(get_number(o, "freqDim"));
  c.ffn_dim = static_cast<int>(get_number(o, "ffnDim"));
  c.num_layers = static_cast<int>(get_number(o, "numLayers"));
  c.cross_attn_norm = get_bool_or(o, "crossAttnNorm", true);
  c.eps = static_cast<float>(get_number(o, "eps"));
  c.image_dim = static_cast<int>(get_number_or(o, "imageDim", 0));
  c.added_kv_proj_dim = static_cast<int>(get_number_or(o, "addedKvProjDim", 0));
  c.rope_max_seq_len = static_cast<int>(get_number_or(o, "ropeMaxSeqLen", 1024));
  c.pos_embed_seq_len = static_cast<int>(get_number_or(o, "posEmbedSeqLen", 0));
  // The memory plan's residency (lib/memory/plan.ts); the CPU backend keeps every weight where it is.
  c.resident_blocks = static_cast<int>(get_number_or(o, "residentBlocks", -1));
  if (c.resident_blocks < -1 || c.resident_blocks > c.num_layers)
    fail("E_INVALID_ARGUMENT", "config.residentBlocks must lie in [0, numLayers], got " + std::to_string(c.resident_blocks));
  c.swap_expert = get_bool_or(o, "swapExpert", false);
  c.start_parked = get_bool_or(o, "parked", false);
  // A parked start is the idle A14B expert's: without swapExpert nothing would ever bring it back.
  if (c.start_parked && !c.swap_expert) fail("E_INVALID_ARGUMENT", "config.parked needs config.swapExpert (only a swapped expert starts parked)");
  return c;
}

Napi::Function TransformerWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeTransformer",
                     {InstanceMethod<&TransformerWrap::Forward>("forward"),
                      InstanceMethod<&TransformerWrap::Dispose>("dispose"),
                      InstanceMethod<&TransformerWrap::ApplyLoras>("applyLoras"),
                      InstanceMethod<&TransformerWrap::ClearLoras>("clearLoras"),
                      InstanceMethod<&TransformerWrap::ReadWeight>("readWeight"),
                      InstanceAccessor<&TransformerWrap::WeightBytes>("weightBytes"),
                      InstanceAccessor<&TransformerWrap::LoraBaseBytes>("loraBaseBytes")});
}

Napi::Object TransformerWrap::Wrap(Napi::Env env, std::shared_ptr<dit::WanDit> model) {
  Napi::Object obj = runtime(env).transformer_ctor.New({});
  Unwrap(obj)->model_ = std::move(model);
  return obj;
}

TransformerWrap::TransformerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TransformerWrap>(info) {}

std::shared_ptr<dit::WanDit> TransformerWrap::model_of(Napi::Env env, Napi::Value value, const char* what) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(runtime(env).transformer_ctor.Value()))
    fail("E_INVALID_ARGUMENT", std::string("field \"") + what + "\" must be a loaded transformer");
  auto model = Unwrap(value.As<Napi::Object>())->model_;
  if (!model) fail("E_INVALID_ARGUMENT", std::string("field \"") + what + "\" is a disposed transformer");
  return model;
}

Napi::Value TransformerWrap::WeightBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), model_ ? static_cast<double>(model_->weight_bytes()) : 0.0);
}

Napi::Value TransformerWrap::Dispose(const Napi::CallbackInfo& info) {
  // A forward in flight holds its own reference; the memory is freed on the device thread.
  release_on_device(info.Env(), lora_);
  release_on_device(info.Env(), model_);
  return info.Env().Undefined();
}

Napi::Value TransformerWrap::LoraBaseBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(*lora_base_bytes_));
}

// applyLoras({tensors, updates}): `tensors` are byte ranges of LoRA files (as plans give them),
// `updates` [{target, scale, up?, down?, diff?}] name them. Resolves with what the merge cost.
Napi::Value TransformerWrap::ApplyLoras(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (!model_) fail("E_INVALID_ARGUMENT", "the transformer was disposed");
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "applyLoras({tensors, updates}) needs an object");
    Napi::Object o = info[0].As<Napi::Object>();
    if (!o.Get("tensors").IsArray() || !o.Get("updates").IsArray())
      fail("E_INVALID_ARGUMENT", "applyLoras needs arrays \"tensors\" and \"updates\"");
    if (model_->moves_weights() && o.Get("updates").As<Napi::Array>().Length() > 0)
      fail("E_UNSUPPORTED", "LoRAs on a transformer whose weights the memory plan offloads (streamed blocks or a parked expert) are not supported yet: give a larger memory budget");
    auto specs = std::make_shared<std::vector<TensorSpec>>(get_tensor_specs(o.Get("tensors").As<Napi::Array>()));
    std::map<std::string, Shape> shapes;
    for (const TensorSpec& s : *specs) shapes[s.name] = s.shape;
    struct Ref {
      std::string target, up, down, diff;
      float scale = 1.0f;
    };
    auto refs = std::make_shared<std::vector<Ref>>();
    Napi::Array arr = o.Get("updates").As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      if (!arr.Get(i).IsObject()) fail("E_INVALID_ARGUMENT", "updates[" + std::to_string(i) + "] must be an object");
      Napi::Object u = arr.Get(i).As<Napi::Object>();
      Ref r;
      r.target = get_string(u, "target");
      r.scale = static_cast<float>(get_number(u, "scale"));
      auto name = [&](const char* key) -> std::string {
        if (!u.Has(key) || u.Get(key).IsUndefined()) return {};
        std::string n = get_string(u, key);
        if (!shapes.count(n)) fail("E_INVALID_ARGUMENT", "updates[" + std::to_string(i) + "]." + key + " names no tensor: \"" + n + "\"");
        return n;
      };
      r.up = name("up");
      r.down = name("down");
      r.diff = name("diff");
      refs->push_back(std::move(r));
    }
    if (!lora_) lora_ = std::make_shared<pipeline::WeightPatcher>(*runtime(env).backend, model_->weights_by_name());
    auto patcher = lora_;
    auto model = model_;  // keeps the weights alive while the merge runs
    Backend* backend = runtime(env).backend.get();
    auto stats = std::make_shared<pipeline::MergeStats>();
    auto base_bytes = lora_base_bytes_;
    return DeviceJob::run(
        env, {"wan-video:lora-merge"},
        [=](DeviceJob&) {
          PlanWeightSource src(*backend, *specs);
          auto take = [&](const std::string& n) { return n.empty() ? Tensor() : src.take(n, shapes.at(n)); };
          std::vector<pipeline::LoraUpdate> updates;
          updates.reserve(refs->size());
          for (const Ref& r : *refs) {
            pipeline::LoraUpdate u;
            u.target = r.target;
            u.scale = r.scale;
            u.up = take(r.up);
            u.down = take(r.down);
            u.diff = take(r.diff);
            updates.push_back(std::move(u));
          }
          src.finish();
          *stats = patcher->apply(updates);
        },
        [=](Napi::Env e) -> Napi::Value {
          *base_bytes = stats->base_bytes;
          Napi::Object out = Napi::Object::New(e);
          out.Set("targets", stats->targets);
          out.Set("baseBytes", static_cast<double>(stats->base_bytes));
          out.Set("ms", stats->ms);
          Napi::Object widened = Napi::Object::New(e);
          for (const auto& [dtype, count] : stats->widened) widened.Set(dtype, count);
          out.Set("widened", widened);
          return out;
        });
  });
}

// clearLoras(): the base weights back, their copies freed.
Napi::Value TransformerWrap::ClearLoras(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    auto patcher = lora_;
    auto model = model_;
    auto base_bytes = lora_base_bytes_;
    return DeviceJob::run(
        env, {"wan-video:lora-clear"}, [=](DeviceJob&) { if (patcher) patcher->clear(); },
        [=](Napi::Env e) -> Napi::Value {
          *base_bytes = 0;
          return e.Undefined();
        });
  });
}

// readWeight(name): the weight the forward reads under that canonical name, as float32 (widened
// from whatever the backend keeps: the check that loading and dequantization are right).
Napi::Value TransformerWrap::ReadWeight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (!model_) fail("E_INVALID_ARGUMENT", "the transformer was disposed");
    if (info.Length() < 1 || !info[0].IsString()) fail("E_INVALID_ARGUMENT", "readWeight(name) needs a tensor name");
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    const auto& slots = model_->weights_by_name();
    auto it = slots.find(name);
    if (it == slots.end()) fail("E_INVALID_ARGUMENT", "readWeight: \"" + name + "\" is not a weight of this transformer");
    if (model_->moves_weights()) fail("E_UNSUPPORTED", "readWeight: the weights of an offloaded transformer move between host and device");
    auto model = model_;  // keeps the slot alive
    // The slot is read on the device thread, after the merges queued before this call (a LoRA merge
    // rebinds slots there): never concurrently with one, and the weight the next forward would read.
    const Tensor* slot = it->second;
    Backend* backend = runtime(env).backend.get();
    auto host = std::make_shared<std::vector<float>>();
    auto shape = std::make_shared<Shape>();
    return DeviceJob::run(
        env, {"wan-video:read-weight"},
        [=](DeviceJob&) {
          const Tensor weight = *slot;
          *shape = weight.shape();
          host->resize(static_cast<size_t>(weight.numel()));
          backend->download(weight, host->data());
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Float32Array data = Napi::Float32Array::New(e, host->size());
          std::copy(host->begin(), host->end(), data.Data());
          Napi::Array dims = Napi::Array::New(e, shape->size());
          for (size_t i = 0; i < shape->size(); ++i) dims.Set(i, static_cast<double>((*shape)[i]));
          Napi::Object o = Napi::Object::New(e);
          o.Set("data", data);
          o.Set("shape", dims);
          return o;
        });
  });
}

Napi::Value TransformerWrap::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded_promise(env, [&]() -> Napi::Value {
    if (!model_) fail("E_INVALID_ARGUMENT", "the transformer was disposed");
    if (info.Length() < 1 || !info[0].IsObject()) fail("E_INVALID_ARGUMENT", "forward(inputs) needs an object");
    Napi::Object in = info[0].As<Napi::Object>();
    const bool trace = info.Length() > 1 && info[1].IsObject() &&
                       get_bool_or(info[1].As<Napi::Object>(), "trace", false);
    auto hidden = std::make_shared<HostTensor>(get_host_tensor(in, "hiddenStates"));
    auto timestep = std::make_shared<HostTensor>(get_host_tensor(in, "timestep"));
    auto context = std::make_shared<HostTensor>(get_host_tensor(in, "encoderHiddenStates"));
    std::shared_ptr<HostTensor> image;
    if (in.Has("encoderHiddenStatesImage") && in.Get("encoderHiddenStatesImage").IsObject())
      image = std::make_shared<HostTensor>(get_host_tensor(in, "encoderHiddenStatesImage"));

    auto model = model_;
    DeviceJob::Options options{"wan-video:forward"};
    if (info.Length() > 1 && info[1].IsObject()) options.cancel_flag = get_cancel_flag(info[1].As<Napi::Object>());
    struct Out {
      HostTensor sample;
      std::vector<std::pair<std::string, HostTensor>> trace;
    };
    auto out = std::make_shared<Out>();
    return DeviceJob::run(
        env, options,
        [=](DeviceJob& job) {
          Backend& backend = job.backend();
          dit::DitInputs di;
          di.hidden_states = backend.upload(hidden->data.data(), hidden->shape);
          di.timestep = timestep->data;
          di.per_token_timestep = timestep->shape.size() == 2;
          di.context = backend.upload(context->data.data(), context->shape);
          if (image) di.context_image = backend.upload(image->data.data(), image->shape);
          dit::Trace tr;
          out->sample = download(backend, model->forward(di, trace ? &tr : nullptr));
          for (auto& [name, tensor] : tr.tensors) out->trace.emplace_back(name, download(backend, tensor));
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object o = Napi::Object::New(e);
          o.Set("sample", host_tensor_to_js(e, out->sample));
          if (trace) {
            Napi::Object t = Napi::Object::New(e);
            for (auto& [name, tensor] : out->trace) t.Set(name, host_tensor_to_js(e, tensor));
            o.Set("trace", t);
          }
          return o;
        });
  });
}

}  // namespace wan::napi
