// DeviceContext: the one owner of this process's execution resources. It holds the execution
// space instances kernels and copies run on, and the resources higher layers attach to it
// (the BLAS handle from linalg/, later the NCCL communicators from parallel/). The Runtime
// owns it and destroys it before Kokkos finalises, so no handle outlives its device.
#pragma once

#include <memory>
#include <typeindex>
#include <utility>
#include <vector>

#include "core/types.hpp"

namespace zoptimus {

// A resource the context owns and releases (in reverse order of attachment) before the
// execution instances and Kokkos go away. Subclasses free their handles in the destructor.
class DeviceResource {
 public:
  virtual ~DeviceResource() = default;
};

class DeviceContext {
 public:
  // Needs Kokkos initialised. Registers itself as current(); only one may exist at a time.
  DeviceContext();
  ~DeviceContext();
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  // The instance every kernel runs on today (the default instance of ExecSpace), and a
  // second one for transfers that may overlap it (its own stream on CUDA; on host backends
  // the same instance, since there is nothing to overlap). Fencing one of them waits for its
  // work only, never for the whole device.
  const ExecSpace& compute() const { return compute_; }
  const ExecSpace& copy() const { return copy_; }

  // The resource of type R, created by `make` (no arguments, returns std::unique_ptr<R>) on
  // first use and owned by the context from then on.
  template <class R, class Make>
  R& resource(Make&& make) {
    for (auto& [type, r] : resources_)
      if (type == std::type_index(typeid(R))) return static_cast<R&>(*r);
    std::unique_ptr<R> made = std::forward<Make>(make)();
    R& ref = *made;
    resources_.emplace_back(std::type_index(typeid(R)), std::move(made));
    return ref;
  }

  // Frees the attached resources (newest first) and the copy instance. Idempotent; the
  // destructor calls it.
  void release();

  // The context of this process (the Runtime's). Throws zoptimus::Error when none exists.
  static DeviceContext& current();
  static bool exists();

 private:
  ExecSpace compute_;
  ExecSpace copy_;
  void* copy_stream_ = nullptr;  // cudaStream_t of copy_ on CUDA builds, owned
  std::vector<std::pair<std::type_index, std::unique_ptr<DeviceResource>>> resources_;
};

}  // namespace zoptimus
