// `lpsim sweep [CONFIG.toml] [key=value ...] --grid key=v1,v2 ... [--shard i/n] [--jobs N] -o out.h5`:
// every point of the grid, one run group each; a rerun skips finished points
// and continues interrupted ones from their checkpoints.
// The --jobs worker pool: sweep_jobs.cpp.
#include <fmt/core.h>

#include <memory>

#include "experiments/commands.hpp"
#include "experiments/config_flags.hpp"
#include "experiments/config_toml.hpp"
#include "experiments/run_training.hpp"
#include "experiments/sweep_grid.hpp"
#include "experiments/sweep_jobs.hpp"
#include "nn/train.hpp"

namespace lpsim::cli {

namespace {

struct SweepArgs {
  std::vector<std::string> grid;
  std::string shard = "0/1";
  std::string jobs = "1";
  std::int64_t job_point = -1;  // hidden: this process is the --jobs worker of point P
};


Sweep resolve_sweep(const ConfigArgs& cargs, const SweepArgs& s) {
  Sweep sw;
  sw.base = resolve_config(cargs);
  const RunConfig& base = sw.base;
  if (base.output.empty()) throw CLI::ValidationError("-o", "a sweep needs a results file (-o FILE or output = \"FILE\")");
  if (s.grid.empty()) throw CLI::ValidationError("--grid", "a sweep needs at least one --grid key=v1,v2,...");
  std::vector<GridAxis> axes;
  for (const std::string& g : s.grid) {
    axes.push_back(parse_axis(g));
    for (const GridAxis& a : axes)
      if (&a != &axes.back() && a.key == axes.back().key)
        throw std::invalid_argument("--grid names key \"" + a.key + "\" twice");
  }
  std::tie(sw.shard, sw.shards) = parse_shard(s.shard);
  const auto points = grid_points(axes);
  sw.grid_size = points.size();
  // Resolve every point first: a bad value fails before hours of training.
  for (std::size_t p = 0; p < points.size(); ++p) {
    RunRequest r;
    r.config = base;
    std::string text;
    for (const auto& [k, v] : points[p]) {
      if (k == "output" || k == "threads") throw std::invalid_argument("--grid cannot vary \"" + k + "\"");
      set_key_text(r.config, k, v, "--grid " + k + "=" + v);
      text += k + " = " + v + "\n";
    }
    if (int(p % std::size_t(sw.shards)) != sw.shard) continue;
    try {
      nn::check_config(r.config.train);
    } catch (const std::exception& e) {
      throw std::invalid_argument("grid point " + point_name(points[p]) + ": " + e.what());
    }
    r.group = point_name(points[p]);
    r.point = text;
    r.point_index = std::int64_t(p);
    r.resume = true;
    r.label = fmt::format("point {}/{}: {}", p + 1, points.size(), r.group);
    sw.mine.push_back(std::move(r));
  }
  return sw;
}

void run_sweep(const ConfigArgs& cargs, const SweepArgs& s) {
  const int jobs = parse_jobs(s.jobs);
  const Sweep sw = resolve_sweep(cargs, s);
  if (s.job_point >= 0) return run_job_point(sw, s.job_point);
  ResultsFile results(sw.base.output);
  results.create_if_absent();  // every shard leaves a file to merge, even one with no points
  if (jobs > 1) return run_parallel(sw, jobs, results);
  // Serial. Worker files of an interrupted --jobs sweep are folded in first,
  // their partial runs with them (continued here from their checkpoints).
  fold_dir(results, jobs_dir(sw.base.output), [](const std::string&, const std::string&) { return false; });
  install_interrupt_handler();  // Ctrl-C stops the point in training; rerunning the sweep resumes it
  // A point that diverges is a result (recorded as failed, with its reason);
  // the sweep goes on and reports every failed point at the end. Any other
  // error (a file, the data) stops it.
  int trained = 0, skipped = 0;
  std::vector<std::string> failed;
  for (const RunRequest& r : sw.mine) {
    if (results.status(r.group) == RunStatus::Failed) {
      failed.push_back(r.group + " (" + results.attribute(r.group, "error") + ")");
      if (!quiet) fmt::print("{}: failed in an earlier sweep: skipped\n", r.label);
      continue;
    }
    try {
      (run_training(r, &results) == RunOutcome::Trained ? trained : skipped)++;
    } catch (const nn::Diverged& e) {
      failed.push_back(r.group + " (" + e.what() + ")");
      fmt::print(stderr, "{}: {}\n", r.label, e.what());
    }
  }
  summary(sw, trained, skipped, failed.size(), "");
  if (!failed.empty()) throw std::runtime_error(failed_points_message(sw, failed));
}

}  // namespace

void add_sweep(CLI::App& app) {
  auto* cmd = app.add_subcommand("sweep", "train every point of a grid of config values into one results file");
  cmd->footer(
      "Examples:\n"
      "  lpsim sweep experiments/configs/main.toml --grid precision.e=int8/minmax/tensor,e5m2 --grid seed=0,1 -o s.h5\n"
      "  lpsim sweep base.toml --grid 'precision.mac_fwd=fp32;a=int4,b=uint4,acc=int12:wrap,out=fp32' -o s.h5\n"
      "  lpsim sweep ... --jobs 4 -o s.h5          # 4 points at a time, in 4 processes\n"
      "  lpsim sweep ... --shard 0/2 -o s0.h5; lpsim sweep ... --shard 1/2 -o s1.h5; lpsim merge s.h5 s0.h5 s1.h5\n"
      "Rerunning a sweep skips finished points and resumes interrupted ones (docs/config.md)");
  auto cargs = add_config_args(cmd);
  auto s = std::make_shared<SweepArgs>();
  cmd->add_option("--grid", s->grid, "key=v1,v2,...: an axis of the grid (repeat for more; last varies fastest)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--shard", s->shard, "i/n: run only points p with p % n == i (merge the shard files with lpsim merge)")
      ->capture_default_str();
  cmd->add_option("-j,--jobs", s->jobs,
                  "N: train N points at a time, each in its own process (threads: OpenMP's count / N unless "
                  "threads is set; bit-identical results)")
      ->capture_default_str()
      ->type_name("N");
  cmd->add_option("--job-point", s->job_point, "internal: the worker process of --jobs for point P")->group("");
  cmd->callback([cargs, s] { run_sweep(*cargs, *s); });
}

}  // namespace lpsim::cli
