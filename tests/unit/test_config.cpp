// Input-deck parsing: defaults, values, overrides, and the messages for bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/config.hpp"
#include "core/error.hpp"

namespace zoptimus {
namespace {

// Expects parse_config to throw an Error whose message contains every fragment.
void expect_error(const std::string& deck, const std::vector<std::string>& overrides,
                  const std::vector<std::string>& fragments) {
  try {
    parse_config(deck, "deck.toml", overrides);
    ADD_FAILURE() << "no error for deck:\n" << deck;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    for (const auto& f : fragments)
      EXPECT_NE(msg.find(f), std::string::npos) << "message '" << msg << "' lacks '" << f << "'";
  }
}

TEST(Config, EmptyDeckGivesDefaults) {
  Config c = parse_config("", "empty", {});
  Config d;
  EXPECT_EQ(c.model.hidden, d.model.hidden);
  EXPECT_EQ(c.parallel.mode, MeshMode::TwoD);
  EXPECT_EQ(c.optim.method, ZoMethod::Mezo);
  EXPECT_DOUBLE_EQ(c.optim.lr, d.optim.lr);
}

TEST(Config, ReadsEverySection) {
  const std::string deck = R"(
[model]
hidden = 96
heads = 6
ffn = 384
activation = "gelu"
[parallel]
mode = "1d"
t = 2
dp = 2
[optim]
method = "sparse_mezo"
lr = 1
sparsity = 0.75
[optim.anderson]
m = 3
gram = "diag"
[data]
batch = 8
seq_len = 16
[run]
steps = 5
[io]
keep = 3
run_log = false
)";
  Config c = parse_config(deck, "deck.toml", {});
  EXPECT_EQ(c.model.hidden, 96);
  EXPECT_EQ(c.model.activation, Activation::Gelu);
  EXPECT_EQ(c.parallel.mode, MeshMode::OneD);
  EXPECT_EQ(c.parallel.t, 2);
  EXPECT_EQ(c.parallel.dp, 2);
  EXPECT_DOUBLE_EQ(c.optim.lr, 1.0);  // integers are accepted for reals
  EXPECT_DOUBLE_EQ(c.optim.sparsity, 0.75);
  EXPECT_EQ(c.optim.anderson.m, 3);
  EXPECT_EQ(c.optim.anderson.gram, GramMode::Diag);
  EXPECT_EQ(c.data.batch, 8);
  EXPECT_EQ(c.run.steps, 5);
  EXPECT_EQ(c.io.keep, 3);
  EXPECT_FALSE(c.io.run_log);
  EXPECT_EQ(c.deck_text, deck);
}

TEST(Config, OverridesWinAndCreateSections) {
  Config c = parse_config("[optim]\nlr = 0.1\n", "deck.toml",
                          {"optim.lr=1e-6", "parallel.mode=1d", "optim.anderson.m=2",
                           "data.path=\"a b.h5\"", "io.run_log=false"});
  EXPECT_DOUBLE_EQ(c.optim.lr, 1e-6);
  EXPECT_EQ(c.parallel.mode, MeshMode::OneD);  // bare word taken as a string
  EXPECT_EQ(c.optim.anderson.m, 2);
  EXPECT_EQ(c.data.path, "a b.h5");
  EXPECT_FALSE(c.io.run_log);
  // The effective deck records the overrides, so a checkpoint explains itself.
  Config again = parse_config(c.effective_toml, "effective", {});
  EXPECT_DOUBLE_EQ(again.optim.lr, 1e-6);
  EXPECT_EQ(again.optim.anderson.m, 2);
}

TEST(Config, BadInputNamesTheProblem) {
  expect_error("[optim]\nlrr = 1e-3\n", {}, {"unknown key 'optim.lrr'", "did you mean 'optim.lr'"});
  expect_error("[optimizer]\nlr = 1\n", {}, {"unknown section [optimizer]"});
  expect_error("[model]\nhidden = \"big\"\n", {}, {"model.hidden", "expected an integer"});
  expect_error("[model]\nhidden = -64\n", {}, {"model.hidden", "-64"});
  expect_error("[model]\nlayers = 2.5\n", {}, {"model.layers"});
  expect_error("[optim]\nlr = -1.0\n", {}, {"optim.lr", "> 0"});
  expect_error("[optim]\nsparsity = 1.0\n", {}, {"optim.sparsity", "[0, 1)"});
  expect_error("[parallel]\nmode = \"3d\"\n", {}, {"parallel.mode", "\"2d\""});
  expect_error("[model]\nhidden = 64\nheads = 5\n", {}, {"model.hidden = 64", "model.heads = 5"});
  expect_error("[data]\nseq_len = 300\n[model]\nmax_positions = 128\n", {},
               {"data.seq_len = 300", "max_positions = 128"});
  expect_error("[model\nhidden = 3\n", {}, {"deck.toml:1", "TOML syntax error"});
  expect_error("steps = 3\n", {}, {"'steps'", "inside a section"});
  expect_error("", {"optim.lr"}, {"key=value"});
  expect_error("", {"optim.lr="}, {"empty value"});
  expect_error("", {"optim.learning_rate=1"}, {"unknown key 'optim.learning_rate'"});
  expect_error("", {"optim.lr=abc"}, {"override", "optim.lr", "\"abc\""});
  expect_error("", {"model.layers=0"}, {"override", "model.layers"});
  expect_error("[parallel]\nmode = \"2d\"\nt = 2\n", {}, {"parallel.t"});
}

TEST(Config, DataPathIsRelativeToTheDeck) {
  const std::string dir = ::testing::TempDir() + "zoptimus_deck_dir";
  std::filesystem::create_directories(dir);
  const std::string deck = dir + "/deck.toml";
  std::ofstream(deck) << "[data]\npath = \"data/set.h5\"\n";
  EXPECT_EQ(load_config(deck, {}).data.path, dir + "/data/set.h5");
  EXPECT_EQ(load_config(deck, {"data.path=other.h5"}).data.path, "other.h5");  // cwd-relative
  std::ofstream(deck) << "[data]\npath = \"/abs/set.h5\"\n";
  EXPECT_EQ(load_config(deck, {}).data.path, "/abs/set.h5");
}

TEST(Config, MissingFileIsAnError) {
  EXPECT_THROW(load_config("/nonexistent/deck.toml", {}), Error);
}

}  // namespace
}  // namespace zoptimus

namespace zoptimus {
namespace {
// Every string choice parses to its enum and prints back as the deck spelling, and the
// schema's "expected" text lists exactly the table's spellings.
TEST(Config, ChoicesRoundTripThroughTheirNames) {
  auto round_trip = [](auto value) {
    using E = decltype(value);
    for (const auto& [v, name] : ChoiceNames<E>::entries) {
      EXPECT_EQ(parse_choice<E>(name), v) << name;
      EXPECT_EQ(choice_name(v), name);
    }
    EXPECT_FALSE(parse_choice<E>("no_such_choice").has_value());
  };
  round_trip(ZoMethod{}), round_trip(LrSchedule{}), round_trip(GramMode{}), round_trip(Task{});
  round_trip(MeshMode{}), round_trip(SummaChoice{}), round_trip(Activation{});
  const Config c = parse_config(
      "[optim]\nmethod = \"sparse_mezo\"\nschedule = \"cosine\"\n[data]\ntask = "
      "\"classification\"\n[parallel]\nsumma = \"weight_stationary\"\n",
      "deck", {});
  EXPECT_EQ(c.optim.method, ZoMethod::SparseMezo);
  EXPECT_EQ(c.optim.schedule, LrSchedule::Cosine);
  EXPECT_EQ(c.data.task, Task::Classification);
  EXPECT_EQ(c.parallel.summa, SummaChoice::WeightStationary);
}

}  // namespace
}  // namespace zoptimus
