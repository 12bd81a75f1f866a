// Module entry: the FlatIndex class and the vector functions.
#include <napi.h>

#include <cmath>
#include <exception>
#include <string>

#include "bandwidth.h"
#include "flat_index.h"
#include "normalize.h"
#include "parallel.h"
#include "simd/cpu.h"

namespace facegate {
namespace {

// normalize(vectors: Float32Array, dim: number): void, in place, all or nothing.
Napi::Value Normalize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(env, "expected a Float32Array for vectors");
  }
  Napi::Float32Array v = info[0].As<Napi::Float32Array>();
  const double dim = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (!(dim >= 1 && dim <= 65536) || dim != std::floor(dim))
    throw Napi::TypeError::New(env, "expected dim to be an integer in 1..65536");
  const size_t d = static_cast<size_t>(dim);
  if (v.ElementLength() % d != 0) {
    throw Napi::TypeError::New(env, "expected vectors length to be a multiple of dim " + std::to_string(d) +
                                        " but received " + std::to_string(v.ElementLength()));
  }
  try {
    normalizeRows(v.Data(), v.ElementLength() / d, d);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("normalize: ") + e.what());
  }
  return env.Undefined();
}

// simd(): { detected, active, threads }
Napi::Value Simd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("detected", simdLevelName(detectSimdLevel()));
  out.Set("active", simdLevelName(activeSimdLevel()));
  out.Set("threads", Napi::Number::New(env, static_cast<double>(parallelism())));
  return out;
}

// cpu(): { vendor, model, features: string[] }
Napi::Value Cpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuDescription d = describeCpu();
  Napi::Object out = Napi::Object::New(env);
  out.Set("vendor", d.vendor);
  out.Set("model", d.model);
  Napi::Array features = Napi::Array::New(env, d.features.size());
  for (size_t i = 0; i < d.features.size(); ++i) features.Set(static_cast<uint32_t>(i), d.features[i]);
  out.Set("features", features);
  return out;
}

// setSimdLevel(name): boolean (false when this CPU cannot run it). For tests and benchmarks.
Napi::Value SetSimdLevel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SimdLevel level;
  if (!info[0].IsString() || !parseSimdLevel(info[0].As<Napi::String>().Utf8Value().c_str(), &level)) {
    throw Napi::TypeError::New(env, "expected one of scalar, sse2, avx2, avx512, neon");
  }
  return Napi::Boolean::New(env, setActiveSimdLevel(level));
}

// measureReadBandwidth(bytes, repeats): GB/s
Napi::Value MeasureReadBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double bytes = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  const double repeats = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 5;
  if (!(bytes >= 1 && bytes <= 64.0 * (1ull << 30))) throw Napi::TypeError::New(env, "expected bytes in 1..64 GiB");
  try {
    return Napi::Number::New(env, measureReadBandwidth(static_cast<size_t>(bytes), static_cast<int>(repeats)));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("measureReadBandwidth: ") + e.what());
  }
}

}  // namespace
}  // namespace facegate

static Napi::Object InitFacegate(Napi::Env env, Napi::Object exports) {
  using namespace facegate;
  exports.Set("FlatIndex", FlatIndex::Define(env));
  exports.Set("normalize", Napi::Function::New<Normalize>(env, "normalize"));
  exports.Set("simd", Napi::Function::New<Simd>(env, "simd"));
  exports.Set("cpu", Napi::Function::New<Cpu>(env, "cpu"));
  exports.Set("setSimdLevel", Napi::Function::New<SetSimdLevel>(env, "setSimdLevel"));
  exports.Set("measureReadBandwidth", Napi::Function::New<MeasureReadBandwidth>(env, "measureReadBandwidth"));
  return exports;
}

NODE_API_MODULE(facegate, InitFacegate)
