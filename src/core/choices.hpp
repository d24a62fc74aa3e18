// The deck's string choices as types: each is parsed once, in the schema
// (core/config_schema.cpp), and compared as an enum everywhere else. choice_name() gives the
// deck spelling back for messages, logs and file attributes.
#pragma once

#include <array>
#include <optional>
#include <string_view>
#include <utility>

namespace zoptimus {

enum class ZoMethod { Mezo, SparseMezo, Lezo };               // optim.method
enum class Perturbation { Gaussian, Rademacher };             // optim.perturbation
enum class LrSchedule { Constant, Linear, Cosine };           // optim.schedule
enum class GramMode { Exact, Diag };                          // optim.anderson.gram
enum class Task { Lm, Classification };                       // data.task
enum class MeshMode { TwoD, OneD };                           // parallel.mode
enum class SummaChoice { Auto, Standard, WeightStationary };  // parallel.summa
enum class Activation { Relu, Gelu };                         // model.activation

// The spellings of each choice, in the order the deck help lists them.
template <class E>
struct ChoiceNames;

#define ZOPTIMUS_CHOICES(E, N, ...)                                                        \
  template <>                                                                              \
  struct ChoiceNames<E> {                                                                  \
    static constexpr std::array<std::pair<E, std::string_view>, N> entries{{__VA_ARGS__}}; \
  };
ZOPTIMUS_CHOICES(ZoMethod, 3, {ZoMethod::Mezo, "mezo"}, {ZoMethod::SparseMezo, "sparse_mezo"},
                 {ZoMethod::Lezo, "lezo"})
ZOPTIMUS_CHOICES(Perturbation, 2, {Perturbation::Gaussian, "gaussian"},
                 {Perturbation::Rademacher, "rademacher"})
ZOPTIMUS_CHOICES(LrSchedule, 3, {LrSchedule::Constant, "constant"}, {LrSchedule::Linear, "linear"},
                 {LrSchedule::Cosine, "cosine"})
ZOPTIMUS_CHOICES(GramMode, 2, {GramMode::Exact, "exact"}, {GramMode::Diag, "diag"})
ZOPTIMUS_CHOICES(Task, 2, {Task::Lm, "lm"}, {Task::Classification, "classification"})
ZOPTIMUS_CHOICES(MeshMode, 2, {MeshMode::TwoD, "2d"}, {MeshMode::OneD, "1d"})
ZOPTIMUS_CHOICES(SummaChoice, 3, {SummaChoice::Auto, "auto"}, {SummaChoice::Standard, "standard"},
                 {SummaChoice::WeightStationary, "weight_stationary"})
ZOPTIMUS_CHOICES(Activation, 2, {Activation::Relu, "relu"}, {Activation::Gelu, "gelu"})
#undef ZOPTIMUS_CHOICES

template <class E>
constexpr std::string_view choice_name(E value) {
  for (const auto& [v, name] : ChoiceNames<E>::entries)
    if (v == value) return name;
  return "?";
}

template <class E>
constexpr std::optional<E> parse_choice(std::string_view text) {
  for (const auto& [v, name] : ChoiceNames<E>::entries)
    if (name == text) return v;
  return std::nullopt;
}

}  // namespace zoptimus
