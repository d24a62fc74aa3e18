// The deck schema table (see config_schema.hpp). Adding a key to a deck means adding one
// line here and one member in config.hpp.
#include "core/config_schema.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <fmt/format.h>

namespace zoptimus::detail {
namespace {

template <class T>
FieldSpec integer(std::string key, T& (*get)(Config&), std::int64_t lo,
                  std::int64_t hi = std::numeric_limits<std::int64_t>::max()) {
  // The check happens in 64 bits, against the narrower field's own range too, so that a
  // value like run.steps = 4294967300 is refused instead of wrapping when narrowed.
  hi = std::min<std::int64_t>(hi, std::numeric_limits<T>::max());
  std::string expected = hi == std::numeric_limits<std::int64_t>::max()
                             ? fmt::format("an integer >= {}", lo)
                             : fmt::format("an integer in [{}, {}]", lo, hi);
  return {std::move(key), expected, [get, lo, hi](Config& c, const toml::node& n) {
            auto v = n.value_exact<std::int64_t>();
            if (!v || *v < lo || *v > hi) return false;
            get(c) = static_cast<T>(*v);
            return true;
          }};
}

// Reals accept integers too (lr = 1 is a fine way to write 1.0). Bounds are inclusive
// unless open_lo/open_hi.
FieldSpec real(std::string key, double& (*get)(Config&), double lo, double hi, bool open_lo,
               bool open_hi) {
  std::string expected;
  if (std::isinf(hi))
    expected = fmt::format("a number {} {}", open_lo ? ">" : ">=", lo);
  else
    expected =
        fmt::format("a number in {}{}, {}{}", open_lo ? "(" : "[", lo, hi, open_hi ? ")" : "]");
  return {std::move(key), expected,
          [get, lo, hi, open_lo, open_hi](Config& c, const toml::node& n) {
            std::optional<double> v;
            if (n.is_floating_point()) v = n.value_exact<double>();
            if (n.is_integer()) v = static_cast<double>(*n.value_exact<std::int64_t>());
            if (!v || !std::isfinite(*v)) return false;
            if (*v < lo || (open_lo && *v == lo)) return false;
            if (*v > hi || (open_hi && *v == hi)) return false;
            get(c) = *v;
            return true;
          }};
}

FieldSpec text(std::string key, std::string& (*get)(Config&)) {
  return {std::move(key), "a string", [get](Config& c, const toml::node& n) {
            auto v = n.value_exact<std::string>();
            if (!v) return false;
            get(c) = *v;
            return true;
          }};
}

// A string choice, stored as its enum (core/choices.hpp); the spellings come from its table.
template <class E>
FieldSpec choice(std::string key, E& (*get)(Config&)) {
  std::string expected = "one of";
  for (const auto& [value, name] : ChoiceNames<E>::entries)
    expected += fmt::format(" \"{}\"", name);
  return {std::move(key), expected, [get](Config& c, const toml::node& n) {
            auto v = n.value_exact<std::string>();
            if (!v) return false;
            const std::optional<E> parsed = parse_choice<E>(*v);
            if (!parsed) return false;
            get(c) = *parsed;
            return true;
          }};
}

// A string from a fixed list that stays a string (no component branches on it here).
FieldSpec one_of(std::string key, std::string& (*get)(Config&), std::vector<std::string> options) {
  std::string expected = "one of";
  for (const auto& o : options) expected += fmt::format(" \"{}\"", o);
  return {std::move(key), expected, [get, options](Config& c, const toml::node& n) {
            auto v = n.value_exact<std::string>();
            if (!v) return false;
            for (const auto& o : options)
              if (*v == o) {
                get(c) = *v;
                return true;
              }
            return false;
          }};
}

FieldSpec boolean(std::string key, bool& (*get)(Config&)) {
  return {std::move(key), "true or false", [get](Config& c, const toml::node& n) {
            auto v = n.value_exact<bool>();
            if (!v) return false;
            get(c) = *v;
            return true;
          }};
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kMaxDim = std::int64_t{1} << 30;

}  // namespace

// Captureless lambdas convert to the function pointers the builders take.
#define ZO_FIELD(expr)       \
  +[](Config & c) -> auto& { \
    return c.expr;           \
  }

const std::vector<FieldSpec>& deck_schema() {
  static const std::vector<FieldSpec> schema = {
      text("model.name", ZO_FIELD(model.name)),
      text("model.tokenizer", ZO_FIELD(model.tokenizer)),
      integer("model.vocab", ZO_FIELD(model.vocab), 2, kMaxDim),
      integer("model.hidden", ZO_FIELD(model.hidden), 1, kMaxDim),
      integer("model.heads", ZO_FIELD(model.heads), 1, kMaxDim),
      integer("model.layers", ZO_FIELD(model.layers), 1, 100000),
      integer("model.ffn", ZO_FIELD(model.ffn), 1, kMaxDim),
      integer("model.max_positions", ZO_FIELD(model.max_positions), 1, kMaxDim),
      choice("model.activation", ZO_FIELD(model.activation)),
      real("model.init_std", ZO_FIELD(model.init_std), 0.0, kInf, true, false),
      real("model.layernorm_eps", ZO_FIELD(model.layernorm_eps), 0.0, 1.0, true, false),
      integer("model.seed", ZO_FIELD(model.seed), 0),
      integer("model.logits_chunk_tokens", ZO_FIELD(model.logits_chunk_tokens), 1, kMaxDim),

      choice("parallel.mode", ZO_FIELD(parallel.mode)),
      integer("parallel.q", ZO_FIELD(parallel.q), 0, 4096),
      integer("parallel.t", ZO_FIELD(parallel.t), 0, 1 << 20),
      integer("parallel.dp", ZO_FIELD(parallel.dp), 1, 1 << 20),
      integer("parallel.pp", ZO_FIELD(parallel.pp), 1, 4096),
      one_of("parallel.collectives", ZO_FIELD(parallel.collectives),
             {"mpi", "cuda-aware-mpi", "nccl"}),
      choice("parallel.summa", ZO_FIELD(parallel.summa)),

      choice("optim.method", ZO_FIELD(optim.method)),
      choice("optim.perturbation", ZO_FIELD(optim.perturbation)),
      real("optim.lr", ZO_FIELD(optim.lr), 0.0, kInf, true, false),
      real("optim.eps", ZO_FIELD(optim.eps), 0.0, kInf, true, false),
      real("optim.weight_decay", ZO_FIELD(optim.weight_decay), 0.0, kInf, false, false),
      integer("optim.n_perturb", ZO_FIELD(optim.n_perturb), 1, 4096),
      choice("optim.schedule", ZO_FIELD(optim.schedule)),
      integer("optim.warmup_steps", ZO_FIELD(optim.warmup_steps), 0),
      real("optim.momentum", ZO_FIELD(optim.momentum), 0.0, 1.0, false, true),
      real("optim.sparsity", ZO_FIELD(optim.sparsity), 0.0, 1.0, false, true),
      integer("optim.sparse_refresh", ZO_FIELD(optim.sparse_refresh), 0),
      real("optim.active_layers", ZO_FIELD(optim.active_layers), 0.0, kInf, true, false),
      boolean("optim.offload", ZO_FIELD(optim.offload)),
      integer("optim.offload_device_bytes", ZO_FIELD(optim.offload_device_bytes), 0),
      integer("optim.anderson.m", ZO_FIELD(optim.anderson.m), 0, 64),
      real("optim.anderson.beta", ZO_FIELD(optim.anderson.beta), 0.0, kInf, true, false),
      real("optim.anderson.lambda", ZO_FIELD(optim.anderson.lambda), 0.0, kInf, false, false),
      choice("optim.anderson.gram", ZO_FIELD(optim.anderson.gram)),
      real("optim.anderson.max_gamma_norm", ZO_FIELD(optim.anderson.max_gamma_norm), 0.0, kInf,
           true, false),

      text("data.path", ZO_FIELD(data.path)),
      choice("data.task", ZO_FIELD(data.task)),
      integer("data.batch", ZO_FIELD(data.batch), 1, kMaxDim),
      integer("data.seq_len", ZO_FIELD(data.seq_len), 1, kMaxDim),
      integer("data.seed", ZO_FIELD(data.seed), 0),
      one_of("data.eval_split", ZO_FIELD(data.eval_split), {"validation", "test"}),

      integer("run.steps", ZO_FIELD(run.steps), 0),
      integer("run.eval_every", ZO_FIELD(run.eval_every), 0),
      integer("run.eval_batches", ZO_FIELD(run.eval_batches), 1),
      integer("run.eval_sequences", ZO_FIELD(run.eval_sequences), 0),
      integer("run.log_every", ZO_FIELD(run.log_every), 1),
      integer("run.seed", ZO_FIELD(run.seed), 0),
      integer("run.max_bad_steps", ZO_FIELD(run.max_bad_steps), 0),
      real("run.divergence_factor", ZO_FIELD(run.divergence_factor), 0.0, kInf, false, false),

      text("io.out_dir", ZO_FIELD(io.out_dir)),
      integer("io.checkpoint_every", ZO_FIELD(io.checkpoint_every), 0),
      integer("io.keep", ZO_FIELD(io.keep), 1, 1000),
      text("io.restart", ZO_FIELD(io.restart)),
      boolean("io.run_log", ZO_FIELD(io.run_log)),
      boolean("io.overwrite", ZO_FIELD(io.overwrite)),
  };
  return schema;
}

#undef ZO_FIELD

const std::vector<std::string>& deck_tables() {
  static const std::vector<std::string> tables = {"model", "parallel", "optim", "optim.anderson",
                                                  "data",  "run",      "io"};
  return tables;
}

}  // namespace zoptimus::detail
