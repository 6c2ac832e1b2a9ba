// `lpsim info [FORMAT...]`: the named formats, or the properties of given spellings.
#include <fmt/core.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "arith/arith.hpp"
#include "experiments/commands.hpp"
#include "experiments/format_table.hpp"
#include "sim/mac_config.hpp"

namespace lpsim::cli {

void add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "list the named formats and rounding modes, or describe given formats");
  auto specs = std::make_shared<std::vector<std::string>>();
  auto macs = std::make_shared<bool>(false), markdown = std::make_shared<bool>(false);
  cmd->add_option("formats", *specs, "format spellings to describe (default: every alias)");
  cmd->add_flag("--macs", *macs, "list the MAC presets (hardware behaviours) with their spelling and source");
  cmd->add_flag("--markdown", *markdown, "with --macs: one Markdown table (the one in docs/gpu-presets.md)");
  cmd->callback([specs, macs, markdown] {
    if (*markdown && !*macs) throw std::invalid_argument("--markdown goes with --macs");
    if (*macs && *markdown) {
      fmt::print("| preset | instruction | parameters | validation | source |\n|---|---|---|---|---|\n");
      for (const auto& p : sim::mac_presets())
        fmt::print("| `{}` | {} | `{}` | {} | {} |\n", p.name, p.instruction, p.spelling, p.validated, p.source);
      return;
    }
    if (*macs) {
      // One row per preset: name, instruction, validation; then its full spelling and its sources.
      fmt::print("{:<30} {:<44} {}\n", "preset", "instruction", "validation (docs/gpu-presets.md)");
      for (const auto& p : sim::mac_presets())
        fmt::print("{:<30} {:<44} {}\n{:<30} {}\n{:<30} source: {}\n", p.name, p.instruction, p.validated, "",
                   sim::parse_mac(p.spelling).spelling(), "", p.source);
      return;
    }
    std::vector<std::string> names = *specs;
    if (names.empty()) {
      std::size_t n = 0;
      const arith::Alias* a = arith::aliases(n);
      for (std::size_t i = 0; i < n; ++i) names.emplace_back(a[i].name);
    }
    print_format_table(names);
    fmt::print("\nrounding modes: rne rna rz ru rd ro sr sr<k>\n");
  });
}

}  // namespace lpsim::cli
