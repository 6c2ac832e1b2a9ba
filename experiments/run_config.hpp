// A run's configuration: every knob of nn::TrainConfig plus what the CLI
// adds (threads, results file), addressable by a dotted key ("optimizer.lr")
// from a TOML file, a `key=value` override or a CLI flag - one mechanism.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "nn/train.hpp"

namespace lpsim::cli {

struct RunConfig {
  nn::TrainConfig train;
  int threads = 0;     // 0: OpenMP's default (results are the same for any count)
  std::string output;  // HDF5 results file; empty: print only
};

RunConfig default_run_config();

// Where a key's value lives in a RunConfig.
using ValueRef = std::variant<std::string*, int*, std::int64_t*, std::uint64_t*, double*, bool*, std::vector<double>*,
                              std::vector<int>*>;

// What a string value must be, checked when it is read so that the error can
// name the file and line.
enum class Check { None, Quant, Master, Rounding, Mac, Positive };

// The values a numeric key accepts; every number must also be finite.
struct Range {
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  bool contains(double v) const {
    return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  }
  std::string text() const;  // "[0, 1024]", "(0, inf)"
};

struct Key {
  const char* path;
  ValueRef (*ref)(RunConfig&);
  Check check;
  const char* help;
  Range range = {};
};

// Every key, in the order the resolved config prints them (config_keys.cpp).
const std::vector<Key>& keys();
const Key* find_key(const std::string& path);

// Keys that set several others (precision.mac sets all three MACs); they
// are accepted as input but never printed.
struct KeyAlias {
  const char* path;
  std::vector<const char*> targets;
  const char* help;
};
const std::vector<KeyAlias>& key_aliases();

// Keys that were removed because their meaning changed: what to write
// instead (for the error that names them), or nullptr.
const char* retired_key(const std::string& path);

}  // namespace lpsim::cli
