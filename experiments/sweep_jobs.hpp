// The sweep's points, resolved, and the --jobs pool that trains them in
// worker processes (sweep_jobs.cpp); cmd_sweep.cpp parses the command.
#pragma once
#include <cstdint>
#include <string>
#include <functional>
#include <vector>

#include "experiments/results_file.hpp"
#include "experiments/run_training.hpp"

namespace lpsim::cli {

struct Sweep {
  RunConfig base;
  std::size_t grid_size = 0;
  int shard = 0, shards = 1;
  std::vector<RunRequest> mine;  // this shard's points, resolved
};

// The worker files' directory of a results file (<real path>.jobs).
std::string jobs_dir(const std::string& output);
// The one-line account of a sweep, and the error that lists its failed points.
void summary(const Sweep& sw, int trained, int skipped, std::size_t failed, const std::string& extra);
std::string failed_points_message(const Sweep& sw, const std::vector<std::string>& failed);
// Every worker file of `dir` moved into `out`: a finished or failed run always;
// a partial one (and its checkpoint) where keep(file, run) is false.
void fold_dir(ResultsFile& out, const std::string& dir,
              const std::function<bool(const std::string&, const std::string&)>& keep);
// The worker side: point p of the sweep into its own file.
void run_job_point(const Sweep& sw, std::int64_t p);
// The parent side: the points of sw in `jobs` worker processes, folded into results.
void run_parallel(const Sweep& sw, int jobs, ResultsFile& results);

}  // namespace lpsim::cli
