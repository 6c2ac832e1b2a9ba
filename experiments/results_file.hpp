// The HDF5 results file of an experiment or sweep (schema:
// docs/results-format.md): one group per run with the resolved config, code
// version, seed and start time as attributes, per-epoch metrics and
// per-layer tables as datasets, the final weights once the run is done.
// Checkpoints live beside it, in <path>.ckpt/<run>.ckpt.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/checkpoint.hpp"
#include "nn/train.hpp"

namespace lpsim::cli {

// Another process is writing the file (exit code 3).
struct ResultsBusy : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class RunStatus { Absent, Running, Finished, Failed };

struct RunMeta {
  std::string config;        // resolved config, TOML
  std::uint64_t seed = 0;
  std::string point;         // sweeps: the grid point, "key=value" lines
  std::int64_t point_index = -1;
};

// The code version compiled in (git describe at build time, or "unknown").
const char* code_version();

class ResultsFile {
 public:
  // Takes an exclusive lock (<real path>.lock, the real path with every
  // symlink resolved, so two spellings of one file share it) for the life of
  // the object; throws ResultsBusy naming the file if another process holds
  // it, and std::runtime_error if `path` exists but is not an lpsim results
  // file. The lock file and an empty checkpoint directory are removed when
  // the object goes.
  explicit ResultsFile(std::string path);
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  const std::string& path() const { return path_; }
  RunStatus status(const std::string& run) const;
  std::string attribute(const std::string& run, const std::string& name) const;
  std::vector<std::string> runs() const;

  // Creates the file with no runs if it does not exist (an empty sweep shard).
  void create_if_absent();
  // Creates the run's group (status "running") with its attributes.
  void begin_run(const std::string& run, const RunMeta& meta);
  // Rewrites the run's metrics and per-layer tables with the whole history.
  void write_epochs(const std::string& run, const std::vector<nn::EpochRecord>& history);
  // Stores the final weights and sets status "finished".
  void finish_run(const std::string& run, const std::vector<nn::NamedArray>& weights);
  // Sets status "failed" with the reason in attribute "error" (the epochs written stay).
  void fail_run(const std::string& run, const std::string& reason);
  // Takes back a run that recorded nothing yet (begin_run, then an error
  // before its first epoch); a file that held only that run and did not
  // exist before this object is removed, so a refused command leaves nothing.
  void discard_run(const std::string& run);
  // Copies every run group of `other` (another results file) in; a run
  // already here is an error naming both files.
  void merge_from(const std::string& other);
  // Copies only the named run groups of `other` in (the same errors).
  void merge_from(const std::string& other, const std::vector<std::string>& runs);
  // Removes run groups, in one atomic rewrite; absent ones are ignored. Their
  // checkpoints are the caller's (lpsim sweep --jobs moves runs between files).
  void remove_runs(const std::vector<std::string>& runs);

  std::string checkpoint_path(const std::string& run) const;

 private:
  template <class F>
  void update(F&& edit);
  void release();
  std::string path_, real_;  // as given; with symlinks resolved (every file operation)
  int lock_fd_ = -1;
  bool existed_ = false;     // the file was there when the object was made
};

}  // namespace lpsim::cli
