// Each subcommand of the lpsim tool registers itself on the app; main.cpp
// only wires them. Exit codes: 0 success, 1 bad input or failed run
// (the message names what was wrong), 2 usage error, 3 results file busy
// (another process is writing it).
#pragma once

#include <CLI/CLI.hpp>

namespace lpsim::cli {

void add_info(CLI::App& app);
void add_quantize(CLI::App& app);
void add_demo(CLI::App& app);
void add_train(CLI::App& app);
void add_matmul(CLI::App& app);
void add_vectors(CLI::App& app);
void add_hardware(CLI::App& app);
void add_sweep(CLI::App& app);
void add_merge(CLI::App& app);

// Global flag: suppress progress lines.
inline bool quiet = false;

}  // namespace lpsim::cli
