// Run configs as TOML: reading a file strictly (unknown keys and wrong types
// are errors naming the key and file:line:column), `key=value` overrides,
// and the resolved config printed back as TOML (stored in results files).
#pragma once

#include <string>
#include <vector>

#include "experiments/run_config.hpp"

namespace lpsim::cli {

// Reads `path` on top of what cfg holds. Throws std::invalid_argument
// "path:line:col: ..." naming the key.
void load_config_file(const std::string& path, RunConfig& cfg);

// Reads TOML text (a stored resolved config); `source` names it in errors.
void load_config_text(const std::string& text, const std::string& source, RunConfig& cfg);

// Applies "key=value" (value as in TOML: 0.1, true, [0.5, 0.75]; strings
// may go unquoted). Throws std::invalid_argument naming the key.
void apply_override(const std::string& assignment, RunConfig& cfg);

// Sets one key from text, as an override does; `where` prefixes errors.
void set_key_text(RunConfig& cfg, const std::string& key, const std::string& text, const std::string& where);

// The value of a key as override text (what set_key_text reads back).
std::string key_text(RunConfig& cfg, const std::string& key);

// The full resolved config as TOML text: every key, then [[layers]].
std::string to_toml(const RunConfig& cfg);

}  // namespace lpsim::cli
