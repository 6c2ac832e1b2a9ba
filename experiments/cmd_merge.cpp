// `lpsim merge OUT.h5 IN.h5 ...`: combine results files (sweep shards) into
// one, copying every run group; each input is locked while read, so a shard
// still being written is refused.
#include <fmt/core.h>

#include <filesystem>
#include <memory>

#include "experiments/commands.hpp"
#include "experiments/results_file.hpp"

namespace lpsim::cli {

void add_merge(CLI::App& app) {
  auto* cmd = app.add_subcommand("merge", "combine results files (sweep shards) into one");
  auto out = std::make_shared<std::string>();
  auto in = std::make_shared<std::vector<std::string>>();
  cmd->add_option("output", *out, "results file to create or add to")->required();
  cmd->add_option("inputs", *in, "results files to copy every run group from")->required();
  cmd->callback([out, in] {
    ResultsFile dst(*out);
    for (const std::string& f : *in) {
      if (f == *out) throw std::invalid_argument("merge: " + f + " is both output and input");
      if (!std::filesystem::exists(f)) throw std::invalid_argument("merge: " + f + " does not exist");
      ResultsFile src(f);  // locked: a shard still being written is refused
      dst.merge_from(f);
    }
    if (!quiet) fmt::print("merged {} files into {} ({} runs)\n", in->size(), *out, dst.runs().size());
  });
}

}  // namespace lpsim::cli
