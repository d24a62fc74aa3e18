// WeightSource: where the forward pass gets each local weight block, per stream. Plain
// inference reads the stored parameters (one stream); the ZO optimizers run two streams
// (+ and -) and hand out W + eps z and W - eps z, built together in scratch buffers from one
// generation of z. The model does not know which method is running.
#pragma once

#include <array>

#include "core/types.hpp"
#include "model/parameter_store.hpp"

namespace zoptimus {

inline constexpr int kMaxStreams = 2;
using BlockPair = std::array<ConstMatrix, kMaxStreams>;

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // How many forward streams this source serves (1 for plain weights, 2 for ZO).
  virtual int streams() const = 0;
  // The local blocks of tensor `id` for every stream. Sources that build blocks in scratch
  // buffers keep the two most recent pairs valid (a weight and its bias, a gamma and its beta).
  virtual BlockPair blocks(int id) = 0;
  // Blocks that stay valid for the whole pass, for tensors the pass uses more than once (the
  // tied embedding: lookup and LM head). Later calls in the same pass return the same pair.
  virtual BlockPair pass_blocks(int id) { return blocks(id); }
  // Called once before each forward over all streams; sources may reset per-pass state.
  virtual void begin_pass() {}
  // Whether the pass that just began writes to tensor `id` (a deferred update applied on
  // the fly), so that an offloaded copy of it must be written back.
  virtual bool updates(int /*id*/) const { return false; }
};

// The stored parameters as they are, for one stream (inference) or for several streams that
// all see the same weights (benchmarks: a dual-stream forward without ZO work).
class StoredWeights : public WeightSource {
 public:
  explicit StoredWeights(const ParameterStore& params, int streams = 1)
      : params_(params), streams_(streams) {}
  int streams() const override { return streams_; }
  BlockPair blocks(int id) override { return {params_.data(id), params_.data(id)}; }

 private:
  const ParameterStore& params_;
  int streams_;
};

}  // namespace zoptimus
