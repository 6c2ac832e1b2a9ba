// The TOML run-config loader (experiments/config_toml.hpp): the input is a
// config file, read by load_config_file through an in-memory file. An
// std::invalid_argument naming file:line (any std::exception) is a fine
// answer; a crash, a sanitizer report, a hang or a huge allocation is a
// finding. Invariant: a config that loads prints (to_toml, what results files
// store) as TOML that loads again to the same config: --resume depends on it.
#include <cstdint>
#include <exception>
#include <string>

#include "experiments/config_toml.hpp"
#include "experiments/run_config.hpp"
#include "fuzz_util.hpp"

using namespace lpsim;
using lpsim::fuzz::finding;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemFile file;
  const std::string& path = file.write(data, size);
  cli::RunConfig cfg = cli::default_run_config();
  try {
    cli::load_config_file(path, cfg);
  } catch (const std::exception&) {
    return 0;
  }
  const std::string printed = cli::to_toml(cfg);
  cli::RunConfig again = cli::default_run_config();
  try {
    cli::load_config_text(printed, "resolved config", again);
  } catch (const std::exception& e) {
    finding(std::string("a loaded config's to_toml does not load again: ") + e.what() + "\n--- printed:\n" + printed);
  }
  if (cli::to_toml(again) != printed) finding("a loaded config's to_toml loads to a different config:\n" + printed);
  return 0;
}
