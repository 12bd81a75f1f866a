// The JavaScript face of IndexCore: argument unpacking, typed-array results and the
// AsyncWorkers that run a search or a serialisation off the JavaScript thread.
#pragma once

#include <napi.h>

#include <memory>

#include "index_core.h"

namespace facegate {

class FlatIndex : public Napi::ObjectWrap<FlatIndex> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit FlatIndex(const Napi::CallbackInfo& info);

 private:
  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Remove(const Napi::CallbackInfo& info);
  Napi::Value Search(const Napi::CallbackInfo& info);
  Napi::Value SearchSync(const Napi::CallbackInfo& info);
  Napi::Value FaissSearchSync(const Napi::CallbackInfo& info);
  Napi::Value Serialize(const Napi::CallbackInfo& info);
  Napi::Value SerializeAsync(const Napi::CallbackInfo& info);
  Napi::Value Ids(const Napi::CallbackInfo& info);
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Dim(const Napi::CallbackInfo& info);
  Napi::Value GetSearchMode(const Napi::CallbackInfo& info);
  void SetSearchMode(const Napi::CallbackInfo& info, const Napi::Value& value);
  Napi::Value Memory(const Napi::CallbackInfo& info);
  static Napi::Value Deserialize(const Napi::CallbackInfo& info);

  // Shared with running search and serialize workers, so they outlive a collected JS object safely.
  std::shared_ptr<IndexCore> core_;
};

}  // namespace facegate
