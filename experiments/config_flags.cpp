#include "experiments/config_flags.hpp"

#include <stdexcept>
#include <type_traits>
#include <variant>

#include "experiments/config_toml.hpp"

namespace lpsim::cli {

namespace {

// flag, key, value given by a boolean flag ("" for flags taking a value), help.
struct Flag {
  const char* flag;
  const char* key;
  const char* bool_value;
  const char* help;
};

// Aliases (--mac) before the keys they set, so --mac-bwd-data refines --mac.
const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"--model", "model.arch", "", "mlp, lenet5, resnet<6n+2> (resnet20, resnet56, ...), mobilenetv2[_<width>]"},
      {"--dataset", "dataset", "", "fashion-mnist, cifar10, cifar100"},
      {"--data-dir", "data_dir", "", "dataset directory (default: Debian's for fashion-mnist)"},
      {"--epochs", "epochs", "", ""},
      {"--batch", "batch", "", ""},
      {"--seed", "seed", "", ""},
      {"--train-subset", "train_subset", "", "train on a seeded random subset of this size"},
      {"--test-subset", "test_subset", "", "test on a seeded random subset of this size"},
      {"--augment", "augment", "true", "random crop and horizontal flip"},
      {"--optimizer", "optimizer.kind", "", "sgd, nesterov, adam"},
      {"--lr", "schedule.lr", "", ""},
      {"--schedule", "schedule.kind", "", "const, step, cosine"},
      {"--warmup", "schedule.warmup_iters", "", "linear warm-up iterations"},
      {"--momentum", "optimizer.momentum", "", ""},
      {"--weight-decay", "optimizer.weight_decay", "", ""},
      {"--w", "precision.w", "", "weight format, e.g. int8/minmax/channel, e4m3fn (default fp32)"},
      {"--a", "precision.a", "", "activation format, e.g. int8/minmax/tensor"},
      {"--e", "precision.e", "", "error (dY) format, e.g. int8/minmax/tensor, e5m2"},
      {"--g", "precision.g", "", "weight-gradient format"},
      {"--w-round", "precision.w_round", "", ""},
      {"--a-round", "precision.a_round", "", ""},
      {"--e-round", "precision.e_round", "", ""},
      {"--g-round", "precision.g_round", "", ""},
      {"--mac", "precision.mac", "", "MAC of all three products (sets --mac-bwd-data/--mac-bwd-weight too)"},
      {"--mac-fwd", "precision.mac_fwd", "", "MAC of the forward product Y = W X"},
      {"--mac-bwd-data", "precision.mac_bwd_data", "", "MAC of the error product dX = W^T dY"},
      {"--mac-bwd-weight", "precision.mac_bwd_weight", "", "MAC of the weight-gradient product dW = dY X^T"},
      {"--master", "precision.master", "", "master-weight format, e.g. bf16, fp16 (default fp32)"},
      {"--master-round", "precision.master_round", "", ""},
      {"--quantize-first-last", "precision.keep_first_last", "false", "quantize the first and last layers too"},
      {"--count-events", "precision.count_events", "true", "count swamped/overflowed additions (slower kernels)"},
      {"--measure-error", "precision.measure_error", "true", "error and SQNR of every product against fp64 (slow)"},
      {"--policy", "policy.kind", "", "precision policy"},
      {"--threads", "threads", "", "OpenMP threads (results do not depend on it)"},
      {"-o,--output", "output", "", "HDF5 results file"},
  };
  return table;
}

}  // namespace

std::vector<FlagKey> flag_keys() {
  std::vector<FlagKey> out;
  for (const Flag& f : flags()) {
    std::string name = f.flag;
    if (const auto comma = name.find(','); comma != std::string::npos) name = name.substr(comma + 1);  // "-o,--output"
    out.push_back({name.substr(2), f.key, f.bool_value});
  }
  return out;
}

namespace {

// What --help shows after a flag: the key's kind of value, not CLI11's TEXT.
std::string value_type(const std::string& key, RunConfig& defaults) {
  const Key* k = find_key(key);
  if (!k) return key == "precision.mac" ? "MAC" : "TEXT";  // an alias
  if (key == "output") return "FILE";
  switch (k->check) {
    case Check::Quant:
    case Check::Master: return "FORMAT";
    case Check::Rounding: return "ROUNDING";
    case Check::Mac: return "MAC";
    default: break;
  }
  return std::visit(
      [](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, double>) return "FLOAT";
        else if constexpr (std::is_same_v<T, bool>) return "BOOL";
        else if constexpr (std::is_integral_v<T>) return "INT";
        else if constexpr (std::is_same_v<T, std::string>) return "TEXT";
        else return "LIST";
      },
      k->ref(defaults));
}

}  // namespace

std::shared_ptr<ConfigArgs> add_config_args(CLI::App* cmd) {
  auto a = std::make_shared<ConfigArgs>();
  a->flag_values.resize(flags().size());
  a->flag_set.resize(flags().size());
  cmd->add_option("config", a->positional,
                  "CONFIG.toml (at most one) and key=value overrides of any config key (docs/config.md)");
  RunConfig defaults;
  for (std::size_t i = 0; i < flags().size(); ++i) {
    const Flag& f = flags()[i];
    std::string help = f.help;
    help += std::string(help.empty() ? "" : "; ") + "key " + f.key;
    if (*f.bool_value) {
      cmd->add_flag(f.flag, a->flag_set[i], help);
    } else {
      const std::string def = find_key(f.key) ? key_text(defaults, f.key) : "";
      if (!def.empty()) help += " (default " + def + ")";
      cmd->add_option(f.flag, a->flag_values[i], help)->type_name(value_type(f.key, defaults));
    }
  }
  return a;
}

RunConfig resolve_config(const ConfigArgs& a) {
  RunConfig c = default_run_config();
  std::string config_file;
  std::vector<std::string> overrides;
  for (const std::string& p : a.positional) {
    if (p.find('=') != std::string::npos) {
      overrides.push_back(p);
    } else if (config_file.empty()) {
      config_file = p;
    } else {
      throw std::invalid_argument("two config files given (\"" + config_file + "\" and \"" + p +
                                  "\"); overrides are key=value");
    }
  }
  if (!config_file.empty()) load_config_file(config_file, c);
  for (std::size_t i = 0; i < flags().size(); ++i) {
    const Flag& f = flags()[i];
    const std::string name = std::string(f.flag).substr(std::string(f.flag).rfind(',') + 1);
    if (*f.bool_value && a.flag_set[i]) set_key_text(c, f.key, f.bool_value, "option " + name);
    if (!*f.bool_value && !a.flag_values[i].empty()) set_key_text(c, f.key, a.flag_values[i], "option " + name);
  }
  for (const std::string& o : overrides) apply_override(o, c);
  return c;
}

}  // namespace lpsim::cli
