// The CLI's training flags (--lr, --w, --mac, ...) are shorthand for config
// keys, and positional `key=value` arguments address any key: both go
// through set_key_text, the same path as a config file's values.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "experiments/run_config.hpp"

namespace lpsim::cli {

struct ConfigArgs {
  std::vector<std::string> positional;  // CONFIG.toml and key=value
  std::vector<std::string> flag_values; // one per flag of the table, empty: not given
  std::vector<int> flag_set;            // boolean flags: 0 not given, 1 given
};

// The shorthand flags' table for other front ends (the Python module): name
// without dashes ("lr", "e-round"), the key it sets, and for a boolean flag
// the value it sets ("" for flags that take one).
struct FlagKey {
  std::string name, key, bool_value;
};
std::vector<FlagKey> flag_keys();

// Adds the positional arguments and every shorthand flag to `cmd`.
std::shared_ptr<ConfigArgs> add_config_args(CLI::App* cmd);

// Resolves: defaults, then the config file, then flags, then key=value
// arguments in order. Throws std::invalid_argument naming the bad key.
RunConfig resolve_config(const ConfigArgs& args);

}  // namespace lpsim::cli
