#include "flat_index.h"

#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "index_io.h"

namespace facegate {
namespace {

// The largest k a search accepts. Face search wants a handful of neighbours; a huge k is a
// caller's mistake that would allocate k results per query.
constexpr size_t kMaxK = 4096;
constexpr size_t kMaxDim = 65536;

// Runs body and turns any C++ exception (FAISS's included) into a JavaScript Error.
template <typename Body>
Napi::Value guarded(Napi::Env env, const char* method, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, std::string("FlatIndex.") + method + ": out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("FlatIndex.") + method + ": " + e.what());
  }
}

[[noreturn]] void typeError(Napi::Env env, const std::string& message) { throw Napi::TypeError::New(env, message); }

Napi::Float32Array float32Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    typeError(info.Env(), std::string("expected a Float32Array for ") + name);
  }
  return info[i].As<Napi::Float32Array>();
}

Napi::BigInt64Array bigInt64Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_bigint64_array) {
    typeError(info.Env(), std::string("expected a BigInt64Array for ") + name);
  }
  return info[i].As<Napi::BigInt64Array>();
}

// Rows in a Float32Array that must hold whole vectors of dim floats.
size_t rowsOf(Napi::Env env, const Napi::Float32Array& a, size_t dim, const char* name) {
  if (a.ElementLength() % dim != 0) {
    typeError(env, std::string("expected ") + name + " length to be a multiple of dim " + std::to_string(dim) +
                       " but received " + std::to_string(a.ElementLength()));
  }
  return a.ElementLength() / dim;
}

size_t kArg(const Napi::CallbackInfo& info, size_t i) {
  const double k = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -1;
  if (!(k >= 1 && k <= static_cast<double>(kMaxK)) || k != static_cast<double>(static_cast<size_t>(k))) {
    typeError(info.Env(), "expected k to be an integer in 1.." + std::to_string(kMaxK));
  }
  return static_cast<size_t>(k);
}

struct SearchResult {
  std::vector<float> scores;
  std::vector<int64_t> ids;
};

Napi::Object toJs(Napi::Env env, const SearchResult& r) {
  Napi::Float32Array scores = Napi::Float32Array::New(env, r.scores.size());
  Napi::BigInt64Array ids = Napi::BigInt64Array::New(env, r.ids.size());
  if (!r.scores.empty()) std::memcpy(scores.Data(), r.scores.data(), r.scores.size() * sizeof(float));
  if (!r.ids.empty()) std::memcpy(ids.Data(), r.ids.data(), r.ids.size() * sizeof(int64_t));
  Napi::Object out = Napi::Object::New(env);
  out.Set("scores", scores);
  out.Set("ids", ids);
  return out;
}

// The search baton: the queries are copied on the JS thread, Execute touches no JS value.
class SearchWorker : public Napi::AsyncWorker {
 public:
  SearchWorker(Napi::Env env, std::shared_ptr<IndexCore> core, const float* queries, size_t nq, size_t k)
      : Napi::AsyncWorker(env, "facegate.FlatIndex.search"),
        deferred_(Napi::Promise::Deferred::New(env)),
        core_(std::move(core)),
        queries_(queries, queries + nq * core_->dim()),
        nq_(nq),
        k_(k) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      result_.scores.resize(nq_ * k_);
      result_.ids.resize(nq_ * k_);
      core_->search(queries_.data(), nq_, k_, result_.scores.data(), result_.ids.data());
    } catch (const std::exception& e) {
      SetError(std::string("FlatIndex.search: ") + e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(toJs(Env(), result_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<IndexCore> core_;
  std::vector<float> queries_;
  size_t nq_;
  size_t k_;
  SearchResult result_;
};

// The serialized bytes handed to JavaScript without a copy: the Buffer owns the vector and frees
// it when collected (a runtime that refuses external buffers gets a copy, and the vector is freed
// at once).
Napi::Buffer<uint8_t> toBuffer(Napi::Env env, std::unique_ptr<std::vector<uint8_t>> bytes) {
  std::vector<uint8_t>* raw = bytes.get();
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::NewOrCopy(
      env, raw->data(), raw->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* owned) { delete owned; }, raw);
  bytes.release();  // the Buffer's finaliser owns it now
  return out;
}

// serializeAsync's baton: the index's version is read on the JS thread when it is called, so
// the bytes are the index as it was then (IndexCore::serializeAt refuses a changed index).
class SerializeWorker : public Napi::AsyncWorker {
 public:
  SerializeWorker(Napi::Env env, std::shared_ptr<IndexCore> core)
      : Napi::AsyncWorker(env, "facegate.FlatIndex.serializeAsync"),
        deferred_(Napi::Promise::Deferred::New(env)),
        core_(std::move(core)),
        version_(core_->version()) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      bytes_ = std::make_unique<std::vector<uint8_t>>(core_->serializeAt(version_));
    } catch (const std::bad_alloc&) {
      SetError("FlatIndex.serializeAsync: out of memory");
    } catch (const std::exception& e) {
      SetError(std::string("FlatIndex.serializeAsync: ") + e.what());
    }
  }
  void OnOK() override {
    // Thrown here, an error would escape to the process instead of rejecting the promise.
    try {
      deferred_.Resolve(toBuffer(Env(), std::move(bytes_)));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<IndexCore> core_;
  uint64_t version_;
  std::unique_ptr<std::vector<uint8_t>> bytes_;
};

}  // namespace

Napi::Function FlatIndex::Define(Napi::Env env) {
  Napi::Function cls =
      DefineClass(env, "FlatIndex",
                  {InstanceMethod<&FlatIndex::Add>("add"), InstanceMethod<&FlatIndex::Remove>("remove"),
                   InstanceMethod<&FlatIndex::Search>("search"), InstanceMethod<&FlatIndex::SearchSync>("searchSync"),
                   InstanceMethod<&FlatIndex::FaissSearchSync>("faissSearchSync"),
                   InstanceMethod<&FlatIndex::Serialize>("serialize"),
                   InstanceMethod<&FlatIndex::SerializeAsync>("serializeAsync"), InstanceMethod<&FlatIndex::Ids>("ids"),
                   InstanceAccessor<&FlatIndex::Size>("size"), InstanceAccessor<&FlatIndex::Dim>("dim"),
                   InstanceAccessor<&FlatIndex::GetSearchMode, &FlatIndex::SetSearchMode>("searchMode"),
                   InstanceMethod<&FlatIndex::Memory>("memory"), StaticMethod<&FlatIndex::Deserialize>("deserialize")});
  env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(cls)));
  return cls;
}

// new FlatIndex(dim), or, from deserialize only, new FlatIndex(External<IndexCore>).
FlatIndex::FlatIndex(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FlatIndex>(info) {
  Napi::Env env = info.Env();
  if (info[0].IsExternal()) {
    core_.reset(info[0].As<Napi::External<IndexCore>>().Data());
    return;
  }
  const double dim = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(dim >= 1 && dim <= static_cast<double>(kMaxDim)) || dim != static_cast<double>(static_cast<size_t>(dim))) {
    typeError(env, "expected dim to be an integer in 1.." + std::to_string(kMaxDim));
  }
  guarded(env, "constructor", [&] {
    core_ = std::make_shared<IndexCore>(static_cast<size_t>(dim));
    return env.Undefined();
  });
}

Napi::Value FlatIndex::Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array vectors = float32Arg(info, 0, "vectors");
  Napi::BigInt64Array ids = bigInt64Arg(info, 1, "ids");
  const size_t n = rowsOf(env, vectors, core_->dim(), "vectors");
  if (ids.ElementLength() != n) {
    typeError(env, "expected one id per vector (" + std::to_string(n) + ") but received " +
                       std::to_string(ids.ElementLength()));
  }
  return guarded(env, "add", [&] {
    core_->add(vectors.Data(), n, ids.Data());
    return env.Undefined();
  });
}

Napi::Value FlatIndex::Remove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::BigInt64Array ids = bigInt64Arg(info, 0, "ids");
  return guarded(env, "remove", [&] {
    return Napi::Number::New(env, static_cast<double>(core_->remove(ids.Data(), ids.ElementLength())));
  });
}

Napi::Value FlatIndex::Search(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array queries = float32Arg(info, 0, "queries");
  const size_t nq = rowsOf(env, queries, core_->dim(), "queries");
  const size_t k = kArg(info, 1);
  return guarded(env, "search", [&] {
    auto* worker = new SearchWorker(env, core_, queries.Data(), nq, k);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value FlatIndex::SearchSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array queries = float32Arg(info, 0, "queries");
  const size_t nq = rowsOf(env, queries, core_->dim(), "queries");
  const size_t k = kArg(info, 1);
  return guarded(env, "searchSync", [&] {
    SearchResult r{std::vector<float>(nq * k), std::vector<int64_t>(nq * k)};
    core_->search(queries.Data(), nq, k, r.scores.data(), r.ids.data());
    return toJs(env, r);
  });
}

Napi::Value FlatIndex::FaissSearchSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array queries = float32Arg(info, 0, "queries");
  const size_t nq = rowsOf(env, queries, core_->dim(), "queries");
  const size_t k = kArg(info, 1);
  return guarded(env, "faissSearchSync", [&] {
    SearchResult r{std::vector<float>(nq * k), std::vector<int64_t>(nq * k)};
    core_->faissSearch(queries.Data(), nq, k, r.scores.data(), r.ids.data());
    return toJs(env, r);
  });
}

Napi::Value FlatIndex::Serialize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "serialize",
                 [&] { return toBuffer(env, std::make_unique<std::vector<uint8_t>>(core_->serialize())); });
}

Napi::Value FlatIndex::SerializeAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "serializeAsync", [&] {
    auto* worker = new SerializeWorker(env, core_);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value FlatIndex::Ids(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "ids", [&] {
    const std::vector<int64_t> ids = core_->ids();
    Napi::BigInt64Array out = Napi::BigInt64Array::New(env, ids.size());
    if (!ids.empty()) std::memcpy(out.Data(), ids.data(), ids.size() * sizeof(int64_t));
    return out;
  });
}

Napi::Value FlatIndex::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(core_->size()));
}

Napi::Value FlatIndex::Dim(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(core_->dim()));
}

Napi::Value FlatIndex::GetSearchMode(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), core_->mode() == SearchMode::Fp16Rerank ? "fp16-rerank" : "exact-fp32");
}

void FlatIndex::SetSearchMode(const Napi::CallbackInfo& info, const Napi::Value& value) {
  const std::string mode = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (mode == "fp16-rerank")
    core_->setMode(SearchMode::Fp16Rerank);
  else if (mode == "exact-fp32")
    core_->setMode(SearchMode::ExactFp32);
  else
    typeError(info.Env(), "expected searchMode exact-fp32 or fp16-rerank");
}

// memory(): { fp32Bytes, fp16Bytes, fp16Usable }: what the index holds in RAM.
Napi::Value FlatIndex::Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("fp32Bytes", Napi::Number::New(env, static_cast<double>(core_->size() * core_->dim() * sizeof(float))));
  out.Set("fp16Bytes", Napi::Number::New(env, static_cast<double>(core_->fp16Bytes())));
  out.Set("fp16Usable", Napi::Boolean::New(env, core_->fp16Usable()));
  return out;
}

Napi::Value FlatIndex::Deserialize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    typeError(env, "expected a Buffer or Uint8Array to deserialize");
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  return guarded(env, "deserialize", [&] {
    auto core = std::make_unique<IndexCore>(readFlatIndex(bytes.Data(), bytes.ElementLength()));
    Napi::FunctionReference* ctor = env.GetInstanceData<Napi::FunctionReference>();
    Napi::Object obj = ctor->New({Napi::External<IndexCore>::New(env, core.get())});
    core.release();  // now owned by the new object's core_
    return obj;
  });
}

}  // namespace facegate
