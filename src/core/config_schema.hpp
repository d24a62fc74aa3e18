// The deck schema: one entry per key, with its type, range and where it lives in Config.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "core/config.hpp"

namespace zoptimus::detail {

struct FieldSpec {
  std::string key;       // dotted key, e.g. "optim.lr"
  std::string expected;  // human description of a valid value, e.g. "a number > 0"
  // Stores the node's value into config; returns false when the type or range is wrong.
  std::function<bool(Config&, const toml::node&)> assign;
};

// Every key a deck may contain.
const std::vector<FieldSpec>& deck_schema();

// Section tables that may appear (top-level and nested), e.g. "optim", "optim.anderson".
const std::vector<std::string>& deck_tables();

}  // namespace zoptimus::detail
