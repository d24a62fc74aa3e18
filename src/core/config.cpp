// Input deck parsing: TOML text + key=value overrides -> Config, with one clear message per
// problem (file, key, value found, value expected).
#include "core/config.hpp"

#include "core/edit_distance.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "core/config_schema.hpp"
#include "core/error.hpp"

namespace zoptimus {
namespace {

using detail::deck_schema;
using detail::deck_tables;
using detail::FieldSpec;

std::string suggestion(const std::string& key, const std::vector<std::string>& known) {
  const std::string best = closest_word(key, known, 4);  // only suggest close matches
  return best.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", best);
}

std::vector<std::string> all_keys() {
  std::vector<std::string> keys;
  for (const auto& f : deck_schema()) keys.push_back(f.key);
  return keys;
}

bool is_table_key(const std::string& key) {
  const auto& t = deck_tables();
  return std::find(t.begin(), t.end(), key) != t.end();
}

const FieldSpec* find_field(const std::string& key) {
  for (const auto& f : deck_schema())
    if (f.key == key) return &f;
  return nullptr;
}

std::string describe_value(const toml::node& node) {
  std::ostringstream os;
  node.visit([&os](const auto& v) {
    if constexpr (toml::is_string<decltype(v)>)
      os << '"' << v.get() << '"';
    else if constexpr (toml::is_table<decltype(v)>)
      os << "a table";
    else if constexpr (toml::is_array<decltype(v)>)
      os << "an array";
    else
      os << v;
  });
  return os.str();
}

// Parses the right-hand side of an override as a TOML value; a bare word that is not valid
// TOML (parallel.mode=2d) is taken as a string.
toml::table parse_override_value(const std::string& value) {
  try {
    return toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    toml::table t;
    t.insert("v", value);
    return t;
  }
}

void apply_override(toml::table& deck, const std::string& override_text) {
  auto eq = override_text.find('=');
  if (override_text.find_first_of("\r\n") != std::string::npos) {
    std::string shown;  // the message stays on one line
    for (char c : override_text) shown += c == '\n' ? "\\n" : c == '\r' ? "\\r" : std::string(1, c);
    fail("override '{}' holds a line break; an override is one key=value on one line", shown);
  }
  if (eq == std::string::npos || eq == 0)
    fail("override '{}' is not of the form key=value (e.g. optim.lr=1e-6)", override_text);
  std::string key = override_text.substr(0, eq);
  std::string value = override_text.substr(eq + 1);
  if (value.empty()) fail("override '{}' has an empty value for key '{}'", override_text, key);
  if (!find_field(key)) {
    fail("override '{}': unknown key '{}'{}", override_text, key, suggestion(key, all_keys()));
  }
  toml::table parsed = parse_override_value(value);
  // Walk/create the section tables along the dotted path.
  toml::table* table = &deck;
  std::size_t start = 0;
  for (std::size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
    std::string part = key.substr(start, dot - start);
    auto* node = table->get(part);
    if (!node) {
      table->insert(part, toml::table{});
      node = table->get(part);
    }
    if (!node->is_table())
      fail("override '{}': '{}' in the deck is not a table", override_text, key.substr(0, dot));
    table = node->as_table();
    start = dot + 1;
  }
  table->insert_or_assign(key.substr(start), *parsed.get("v"));
}

// Visits every leaf of the deck, checking tables and keys against the schema.
void assign_table(Config& config, const toml::table& table, const std::string& prefix,
                  const std::string& source, const std::set<std::string>& overridden) {
  for (const auto& [k, node] : table) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    std::string where = overridden.count(key) ? "override" : source;
    if (node.is_table()) {
      if (!is_table_key(key)) {
        std::vector<std::string> tables = deck_tables();
        fail(
            "{}: unknown section [{}]{}; known sections: [model] [parallel] [optim] "
            "[optim.anderson] [data] [run] [io]",
            where, key, suggestion(key, tables));
      }
      assign_table(config, *node.as_table(), key, source, overridden);
      continue;
    }
    if (prefix.empty())
      fail("{}: key '{}' must be inside a section such as [model] or [optim]", where, key);
    const FieldSpec* field = find_field(key);
    if (!field) fail("{}: unknown key '{}'{}", where, key, suggestion(key, all_keys()));
    if (!field->assign(config, node))
      fail("{}: key '{}' = {} is invalid; expected {}", where, key, describe_value(node),
           field->expected);
  }
}

}  // namespace

Config parse_config(const std::string& deck_text, const std::string& source_name,
                    const std::vector<std::string>& overrides) {
  toml::table deck;
  try {
    deck = toml::parse(deck_text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    fail("{}:{}:{}: TOML syntax error: {}", source_name, where.line, where.column, e.description());
  }
  std::set<std::string> overridden;
  for (const auto& o : overrides) {
    apply_override(deck, o);
    overridden.insert(o.substr(0, o.find('=')));
  }
  Config config;
  assign_table(config, deck, "", source_name, overridden);
  config.deck_text = deck_text;
  config.overrides = overrides;
  std::ostringstream effective;
  effective << deck;
  config.effective_toml = effective.str();
  validate_config(config);
  return config;
}

Config load_config(const std::string& deck_path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (std::filesystem::is_directory(deck_path, ec))
    fail("input deck '{}' is a directory, expected a TOML file", deck_path);
  std::ifstream in(deck_path, std::ios::binary);
  if (!in) fail("cannot open input deck '{}': no such file or not readable", deck_path);
  // A deck is a page of text: read at most one byte past the cap (never all of /dev/zero).
  constexpr std::size_t kMaxDeckBytes = std::size_t{1} << 20;
  std::string text(kMaxDeckBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxDeckBytes)
    fail("input deck '{}' is larger than {} KiB; a deck holds a few dozen keys", deck_path,
         kMaxDeckBytes / 1024);
  Config config = parse_config(text, deck_path, overrides);
  config.deck_path = deck_path;
  // A relative data.path written in a deck is relative to the deck's directory, so shipped
  // decks work from any working directory; one given as an override stays relative to it.
  bool overridden = false;
  for (const auto& o : overrides) overridden = overridden || o.rfind("data.path=", 0) == 0;
  const std::filesystem::path data(config.data.path);
  if (!overridden && !config.data.path.empty() && data.is_relative())
    config.data.path =
        (std::filesystem::path(deck_path).parent_path() / data).lexically_normal().string();
  return config;
}

void validate_config(const Config& c) {
  const auto& m = c.model;
  if (m.hidden % m.heads != 0)
    fail("model.hidden = {} is not divisible by model.heads = {}", m.hidden, m.heads);
  if (c.data.seq_len > m.max_positions)
    fail("data.seq_len = {} is longer than model.max_positions = {}", c.data.seq_len,
         m.max_positions);
  if (c.optim.method == ZoMethod::Lezo && c.optim.active_layers >= 1.0 &&
      c.optim.active_layers > m.layers)
    fail("optim.active_layers = {} exceeds model.layers = {}", c.optim.active_layers, m.layers);
  if (c.optim.method == ZoMethod::Lezo && c.optim.active_layers >= 1.0 &&
      c.optim.active_layers != static_cast<int>(c.optim.active_layers))
    fail("optim.active_layers = {} must be a whole number of layers (>= 1) or a fraction (< 1)",
         c.optim.active_layers);
  const auto& a = c.optim.anderson;
  if (a.m > 0 && (c.optim.weight_decay != 0 || c.optim.momentum != 0))
    fail(
        "optim.anderson.m = {} needs optim.weight_decay = 0 and optim.momentum = 0 (the "
        "extrapolation mixes ZO directions; decay and momentum are not in their span)",
        a.m);
  if (a.m > 0 && (a.m + 1) * c.optim.n_perturb > 32)
    fail(
        "optim.anderson.m = {} with optim.n_perturb = {} mixes {} directions per step; at most "
        "32 are supported",
        a.m, c.optim.n_perturb, (a.m + 1) * c.optim.n_perturb);
  if (c.optim.offload && (a.m > 0 || a.beta != 1.0))
    fail(
        "optim.offload = true does not support Anderson mixing (optim.anderson.m = {}, beta = "
        "{}): its update reads every layer at once; set optim.offload = false or m = 0 and "
        "beta = 1",
        a.m, a.beta);
  if (c.optim.offload && c.optim.momentum != 0)
    fail(
        "optim.offload = true does not support optim.momentum = {}: the momentum buffer is "
        "parameter-sized and is not offloaded; set optim.momentum = 0 or optim.offload = false",
        c.optim.momentum);
  if (c.optim.offload_device_bytes != 0 && !c.optim.offload)
    fail(
        "optim.offload_device_bytes = {} is set but optim.offload = false; set optim.offload = "
        "true or remove the cap",
        c.optim.offload_device_bytes);
  if (c.optim.n_perturb % c.parallel.pp != 0)
    fail(
        "optim.n_perturb = {} is not divisible by parallel.pp = {} (each perturbation-parallel "
        "rank evaluates n_perturb / pp directions); make n_perturb a multiple of pp",
        c.optim.n_perturb, c.parallel.pp);
  if (c.parallel.mode == MeshMode::TwoD && c.parallel.t != 0)
    fail("parallel.t = {} is set but parallel.mode = \"2d\"; use parallel.q for the 2D mesh side",
         c.parallel.t);
  if (c.parallel.mode == MeshMode::OneD && c.parallel.q != 0)
    fail("parallel.q = {} is set but parallel.mode = \"1d\"; use parallel.t for the 1D width",
         c.parallel.q);
}

std::string describe_deck_keys() {
  std::string out;
  for (const auto& f : deck_schema()) out += fmt::format("  {:<32} {}\n", f.key, f.expected);
  return out;
}

}  // namespace zoptimus
