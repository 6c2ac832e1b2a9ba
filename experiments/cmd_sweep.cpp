// `lpsim sweep [CONFIG.toml] [key=value ...] --grid key=v1,v2 ... [--shard i/n] -o out.h5`:
// every point of the grid, one run group each; a rerun skips finished points
// and continues interrupted ones from their checkpoints.
#include <fmt/core.h>

#include <memory>

#include "experiments/commands.hpp"
#include "experiments/config_flags.hpp"
#include "experiments/config_toml.hpp"
#include "experiments/run_training.hpp"
#include "experiments/sweep_grid.hpp"
#include "nn/train.hpp"

namespace lpsim::cli {

namespace {

struct SweepArgs {
  std::vector<std::string> grid;
  std::string shard = "0/1";
};

void run_sweep(const ConfigArgs& cargs, const SweepArgs& s) {
  const RunConfig base = resolve_config(cargs);
  if (base.output.empty()) throw CLI::ValidationError("-o", "a sweep needs a results file (-o FILE or output = \"FILE\")");
  if (s.grid.empty()) throw CLI::ValidationError("--grid", "a sweep needs at least one --grid key=v1,v2,...");
  std::vector<GridAxis> axes;
  for (const std::string& g : s.grid) {
    axes.push_back(parse_axis(g));
    for (const GridAxis& a : axes)
      if (&a != &axes.back() && a.key == axes.back().key)
        throw std::invalid_argument("--grid names key \"" + a.key + "\" twice");
  }
  const auto [shard, shards] = parse_shard(s.shard);
  const auto points = grid_points(axes);
  // Resolve every point first: a bad value fails before hours of training.
  std::vector<RunRequest> mine;
  for (std::size_t p = 0; p < points.size(); ++p) {
    RunRequest r;
    r.config = base;
    std::string text;
    for (const auto& [k, v] : points[p]) {
      if (k == "output" || k == "threads") throw std::invalid_argument("--grid cannot vary \"" + k + "\"");
      set_key_text(r.config, k, v, "--grid " + k + "=" + v);
      text += k + " = " + v + "\n";
    }
    if (int(p % std::size_t(shards)) != shard) continue;
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
    mine.push_back(std::move(r));
  }
  ResultsFile results(base.output);
  results.create_if_absent();
  install_interrupt_handler();  // Ctrl-C stops the point in training; rerunning the sweep resumes it  // every shard leaves a file to merge, even one with no points
  // A point that diverges is a result (recorded as failed, with its reason);
  // the sweep goes on and reports every failed point at the end. Any other
  // error (a file, the data) stops it.
  int trained = 0, skipped = 0;
  std::vector<std::string> failed;
  for (const RunRequest& r : mine) {
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
  fmt::print("sweep: {} points in the grid, {} in shard {}/{}: {} trained, {} already finished, {} failed -> {}\n",
             points.size(), mine.size(), shard, shards, trained, skipped, failed.size(), base.output);
  if (!failed.empty()) {
    std::string list;
    for (const std::string& f : failed) list += "\n  " + f;
    throw std::runtime_error(fmt::format("{} of {} points failed (recorded as failed in {}):{}", failed.size(),
                                         mine.size(), base.output, list));
  }
}

}  // namespace

void add_sweep(CLI::App& app) {
  auto* cmd = app.add_subcommand("sweep", "train every point of a grid of config values into one results file");
  cmd->footer(
      "Examples:\n"
      "  lpsim sweep experiments/configs/main.toml --grid precision.e=int8/minmax/tensor,e5m2 --grid seed=0,1 -o s.h5\n"
      "  lpsim sweep base.toml --grid 'precision.mac_fwd=fp32;a=int4,b=uint4,acc=int12:wrap,out=fp32' -o s.h5\n"
      "  lpsim sweep ... --shard 0/2 -o s0.h5; lpsim sweep ... --shard 1/2 -o s1.h5; lpsim merge s.h5 s0.h5 s1.h5\n"
      "Rerunning a sweep skips finished points and resumes interrupted ones (docs/config.md)");
  auto cargs = add_config_args(cmd);
  auto s = std::make_shared<SweepArgs>();
  cmd->add_option("--grid", s->grid, "key=v1,v2,...: an axis of the grid (repeat for more; last varies fastest)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--shard", s->shard, "i/n: run only points p with p % n == i (merge the shard files with lpsim merge)")
      ->capture_default_str();
  cmd->callback([cargs, s] { run_sweep(*cargs, *s); });
}

}  // namespace lpsim::cli
