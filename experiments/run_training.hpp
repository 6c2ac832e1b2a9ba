// One training run of `lpsim train` or of a sweep point: progress lines,
// the results file's run group, epoch-end checkpoints, and resumption.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>
#include <string>

#include "experiments/results_file.hpp"
#include "experiments/run_config.hpp"

namespace lpsim::cli {

struct RunRequest {
  RunConfig config;
  std::string group = "run";  // the run's group in the results file
  std::string point;          // sweeps: the grid point, "key=value" lines
  std::int64_t point_index = -1;
  // Continue an interrupted run from its checkpoint, skip a finished one;
  // without it an existing run is an error (never silently overwritten).
  bool resume = false;
  std::string label;          // printed before progress lines (sweeps: the point)
  // Library callers (the Python module): told of each finished epoch, and
  // given the whole history (resumed epochs included) when the run ends.
  std::function<void(const nn::EpochRecord&)> on_epoch;
  std::vector<nn::EpochRecord>* history = nullptr;
  // Asked after every batch (the Python module: a pending KeyboardInterrupt);
  // true stops the run there as Ctrl-C does (nn::Interrupted).
  std::function<bool()> stop;
  bool summary = true;  // the final accuracy/BitOPs lines (printed even when quiet)
};

// Ctrl-C (SIGINT) for the command line: the first stops the run between two
// batches (the results file keeps every finished epoch, --resume continues
// it), a second one kills the process at once.
void install_interrupt_handler();

enum class RunOutcome { Trained, Skipped };

// `results` may be null (no output file). Throws std::invalid_argument /
// std::runtime_error naming what was wrong, nn::Interrupted (with how to resume) when stopped.
RunOutcome run_training(const RunRequest& req, ResultsFile* results);

// The config's identity: the resolved TOML without the keys that do not
// change results (threads, output). Resumption requires it to match.
std::string identity_toml(const RunConfig& c);

}  // namespace lpsim::cli
