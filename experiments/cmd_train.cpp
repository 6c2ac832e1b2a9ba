// `lpsim train [CONFIG.toml] [key=value ...] [flags]`: train a model on
// emulated hardware, printing a line per epoch and a summary; with an output
// file, record results and checkpoints there, and `--resume` a killed run.
#include <fmt/core.h>

#include <memory>
#include <optional>

#include "experiments/commands.hpp"
#include "experiments/config_flags.hpp"
#include "experiments/config_toml.hpp"
#include "experiments/run_training.hpp"

namespace lpsim::cli {

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a model with every matrix product on the emulated MAC");
  cmd->footer(
      "Examples:\n"
      "  lpsim train experiments/configs/main.toml -o main.h5            # the main job (about 4 min on 2 cores)\n"
      "  lpsim train --model resnet20 --epochs 2 --w int8/minmax/channel --a int8/minmax/tensor --mac fp16.fp32\n"
      "  lpsim train experiments/configs/policy_cpt.toml epochs=1 train_subset=2000   # key=value overrides\n"
      "  lpsim train run.toml -o run.h5 --resume                          # continue an interrupted run\n"
      "Every key: lpsim train --list-keys; configs and keys: docs/config.md");
  auto args = add_config_args(cmd);
  auto resume = std::make_shared<bool>(false), print = std::make_shared<bool>(false);
  auto list = std::make_shared<bool>(false);
  cmd->add_flag("--list-keys", *list, "list every config key with its default and exit");
  cmd->add_flag("--resume", *resume, "continue the run in the output file from its last checkpoint (skip it if finished)");
  cmd->add_flag("--print-config", *print, "print the resolved config as TOML and exit");
  cmd->callback([args, resume, print, list] {
    if (*list) {
      RunConfig defaults;
      for (const Key& k : keys()) fmt::print("{:<28} {:<22} {}\n", k.path, "'" + key_text(defaults, k.path) + "'", k.help);
      for (const KeyAlias& a : key_aliases()) fmt::print("{:<28} {:<22} {} (sets {} keys)\n", a.path, "", a.help, a.targets.size());
      return;
    }
    RunRequest req;
    req.config = resolve_config(*args);
    if (*print) {
      fmt::print("{}", to_toml(req.config));
      return;
    }
    req.resume = *resume;
    if (req.resume && req.config.output.empty())
      throw CLI::ValidationError("--resume", "needs a results file (-o FILE or output = \"FILE\")");
    std::optional<ResultsFile> results;
    if (!req.config.output.empty()) results.emplace(req.config.output);
    install_interrupt_handler();
    run_training(req, results ? &*results : nullptr);
  });
}

}  // namespace lpsim::cli
