#include "experiments/run_training.hpp"

#include <fmt/core.h>
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "experiments/commands.hpp"
#include "experiments/config_toml.hpp"
#include "nn/checkpoint.hpp"

namespace lpsim::cli {

namespace {

volatile std::sig_atomic_t interrupts = 0;

extern "C" void on_sigint(int) {
  const bool first = interrupts == 0;
  interrupts = 1;
  if (first) {
    const char msg[] = "\nlpsim: stopping after this batch (Ctrl-C again to kill)\n";
    [[maybe_unused]] const auto n = write(STDERR_FILENO, msg, sizeof msg - 1);
  } else {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
}

std::string clock(double s) {
  const int t = int(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60) : fmt::format("{}:{:02}", t / 60, t % 60);
}

void print_header(const RunRequest& req) {
  const nn::TrainConfig& c = req.config.train;
  const auto& p = c.precision;
  if (!req.label.empty()) fmt::print("{}\n", req.label);
  fmt::print("lpsim train: {} on {} ({} epochs, batch {}, seed {})\n", c.model.arch, c.dataset, c.epochs, c.batch, c.seed);
  // A format with its rounding when that is not round-to-nearest-even.
  auto tensor = [](const std::string& f, const std::string& r) {
    if (f.empty() || f == "fp32") return std::string("fp32");
    return r == "rne" ? f : f + "(" + r + ")";
  };
  const std::string macs = fmt::format("fwd MAC {}  bwd MAC {} / {}", p.mac_fwd, p.mac_bwd_data, p.mac_bwd_weight);
  const std::string master =
      p.master.empty() || p.master == "fp32" ? "" : "  master " + tensor(p.master, p.master_round);
  const std::string overrides = c.layers.empty() ? "" : fmt::format("  ({} per-layer overrides)", c.layers.size());
  if (c.policy.kind == "static") {
    fmt::print("  W={} A={} E={} G={}  {}{}{}{}\n", tensor(p.w, p.w_round), tensor(p.a, p.a_round), tensor(p.e, p.e_round),
               tensor(p.g, p.g_round), macs, master, p.keep_first_last ? "  (first/last layer fp32)" : "", overrides);
    return;
  }
  // A policy sets W, A and E itself, per layer and step; the static formats hold only for the layers it keeps.
  const nn::PolicyConfig q = nn::with_method_defaults(c.policy);
  fmt::print("  precision policy {} (docs/policies.md): W int<b>/{}({}) A int<b>/{}({}) E int<b>/{}({}), "
             "bits per layer and step\n",
             q.kind, q.w_scale, q.w_rounding, q.a_scale, q.a_rounding, q.e_scale, q.e_rounding);
  fmt::print("  layers the policy keeps ({}): W={} A={} E={}; every layer: G={}  {}{}{}\n",
             q.keep_fp32.empty() ? "none" : q.keep_fp32, tensor(p.w, p.w_round), tensor(p.a, p.a_round),
             tensor(p.e, p.e_round), tensor(p.g, p.g_round), macs, master, overrides);
}

// The first differing line of two resolved configs, for the resume error.
std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  while (true) {
    const bool ga = bool(std::getline(sa, la)), gb = bool(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (!ga) la = "(nothing)";
    if (!gb) lb = "(nothing)";
    if (la != lb) return "stored \"" + la + "\", now \"" + lb + "\"";
  }
}

}  // namespace

std::string identity_toml(const RunConfig& c) {
  RunConfig i = c;
  i.threads = 0;
  i.output.clear();
  return to_toml(i);
}

void install_interrupt_handler() { std::signal(SIGINT, on_sigint); }

RunOutcome run_training(const RunRequest& req, ResultsFile* results) {
  const RunConfig& cfg = req.config;
  nn::check_config(cfg.train);  // before anything is written
  std::optional<nn::TrainState> resume;
  bool began_here = false;  // this call created the run's group
  if (results) {
    const RunStatus st = results->status(req.group);
    const std::string where = "run \"" + req.group + "\" of " + results->path();
    if (st != RunStatus::Absent) {
      if (st == RunStatus::Failed)
        throw std::invalid_argument(where + " failed (" + results->attribute(req.group, "error") +
                                    "); it cannot be resumed: choose another output or another run name");
      if (!req.resume)
        throw std::invalid_argument(where + " exists" + (st == RunStatus::Finished ? " and is finished" : " (interrupted?)") +
                                    "; pass --resume to " + (st == RunStatus::Finished ? "skip" : "continue") +
                                    " it, or choose another output");
      RunConfig stored;
      load_config_text(results->attribute(req.group, "config"), where, stored);
      const std::string diff = first_difference(identity_toml(stored), identity_toml(cfg));
      if (!diff.empty()) throw std::invalid_argument("cannot resume " + where + ": its config differs (" + diff + ")");
      if (st == RunStatus::Finished) {
        if (!quiet) fmt::print("{}{} is finished: skipped\n", req.label.empty() ? "" : req.label + ": ", where);
        return RunOutcome::Skipped;
      }
      const std::string ck = results->checkpoint_path(req.group);
      if (std::filesystem::exists(ck)) resume = nn::load_checkpoint(ck);
      if (!quiet)
        fmt::print("resuming {} after epoch {}\n", where, resume ? resume->epochs_done : 0);
    }
    began_here = st == RunStatus::Absent;
    if (!resume)
      results->begin_run(req.group, {.config = to_toml(cfg), .seed = cfg.train.seed, .point = req.point,
                                     .point_index = req.point_index});
  }
  if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
  if (!quiet) {
    print_header(req);
    std::fflush(stdout);  // a piped run shows its header at once, not after the first epoch
  }

  std::vector<nn::EpochRecord> history = resume ? resume->history : std::vector<nn::EpochRecord>{};
  // The checkpoint is written before the results, so a kill in between left
  // the file an epoch behind it: bring the file up to the checkpoint first.
  if (resume && results) results->write_epochs(req.group, history);
  double elapsed = 0;
  int epochs_here = 0;
  nn::TrainHooks hooks;
  hooks.resume = resume ? &*resume : nullptr;
  if (results) {
    const std::string ck = results->checkpoint_path(req.group);
    hooks.on_checkpoint = [ck](const nn::TrainState& s) { nn::save_checkpoint(ck, s); };
    hooks.on_end = [&, ck](nn::Model& m) {
      results->finish_run(req.group, nn::model_arrays(m, false));
      std::error_code ec;
      std::filesystem::remove(ck, ec);
    };
  }
  const int epochs = cfg.train.epochs;
  // Progress within an epoch: a line rewritten twice a second on a terminal,
  // a line a minute when piped (logs of long runs show they are alive).
  const bool tty = isatty(fileno(stdout)) != 0;
  using steady = std::chrono::steady_clock;
  steady::time_point first_batch, last_line = steady::now();
  hooks.on_batch = [&](int epoch, std::int64_t batch, std::int64_t batches) {
    const auto now = steady::now();
    if (batch == 1) first_batch = now;
    if (!quiet && batch > 1 && now - last_line >= std::chrono::milliseconds(tty ? 500 : 60000)) {
      const double s = std::chrono::duration<double>(now - first_batch).count();
      const double eta = s / double(batch - 1) * double(batches - batch);
      const double rate = double(batch - 1) * double(cfg.train.batch) / s;
      if (tty)
        fmt::print("\r  epoch {}/{}  batch {}/{}  {:.1f} img/s  epoch ETA {}   ", epoch, epochs, batch, batches, rate,
                   clock(eta));
      else
        fmt::print("  epoch {}/{}: batch {}/{}, {:.1f} img/s, epoch ETA {}\n", epoch, epochs, batch, batches, rate,
                   clock(eta));
      std::fflush(stdout);
      last_line = now;
    }
    return interrupts > 0 || (req.stop && req.stop());
  };
  hooks.on_warning = [](const std::string& w) { fmt::print(stderr, "lpsim: warning: {}\n", w); };
  hooks.on_epoch = [&](const nn::EpochRecord& r, const nn::Model&) {
    history.push_back(r);
    if (results) results->write_epochs(req.group, history);
    if (req.on_epoch) req.on_epoch(r);
    elapsed += r.seconds;
    ++epochs_here;
    if (quiet) return;
    const double eta = elapsed / epochs_here * (epochs - r.epoch);
    if (tty) fmt::print("\r\033[K");  // over the progress line
    fmt::print("epoch {:>3}/{}  loss {:.4f}  train {:6.2f}%  test {:6.2f}%  lr {:.4f}  {:7.1f} img/s  {}  ETA {}\n",
               r.epoch, epochs, r.train_loss, 100 * r.train_acc, 100 * r.test_acc, r.lr, r.images_per_second,
               clock(r.seconds), clock(eta));
    std::fflush(stdout);
  };
  std::vector<nn::EpochRecord> all;
  try {
    all = nn::train(cfg.train, hooks);
  } catch (const nn::Interrupted& e) {
    // Nothing to undo: the file holds every finished epoch and the checkpoint
    // the epoch before; the run stays "running", which --resume continues.
    interrupts = 0;
    if (tty && !quiet) fmt::print("\n");
    std::fflush(stdout);
    const std::string how = req.point_index >= 0 ? "rerun the same lpsim sweep command to continue"
                                                 : "continue with: lpsim train ... -o " +
                                                       (results ? results->path() : std::string()) + " --resume";
    const std::string where = results ? "; " + results->path() + " keeps " + std::to_string(history.size()) +
                                            " finished epoch(s) of run \"" + req.group + "\": " + how
                                      : " (no results file: nothing was kept)";
    throw nn::Interrupted(std::string(e.what()) + where);
  } catch (const std::exception& e) {
    // A run that recorded nothing is taken back (a refused command leaves no
    // file); one with epochs is marked failed with the reason, so it does not
    // look like a killed run that --resume would continue.
    if (results) {
      try {
        if (began_here && history.empty() && !dynamic_cast<const nn::Diverged*>(&e)) {
          results->discard_run(req.group);
          std::error_code ec;
          std::filesystem::remove(results->checkpoint_path(req.group), ec);
        } else {
          results->fail_run(req.group, e.what());
        }
      } catch (const std::exception&) {
      }  // the first error is the one to report
    }
    throw;
  }
  if (req.history) *req.history = all;
  if (req.summary) {
    if (quiet && !req.label.empty()) fmt::print("{}\n", req.label);
    double bitops = 0, bitops32 = 0, seconds = 0;
    for (const auto& r : all) bitops += r.bitops, bitops32 += r.bitops_fp32, seconds += r.seconds;
    const auto& last = all.back();
    fmt::print("final: test accuracy {:.2f}%  (train {:.2f}%, loss {:.4f})  time {}\n", 100 * last.test_acc,
               100 * last.train_acc, last.train_loss, clock(seconds));
    fmt::print("BitOPs: {:.3e} vs {:.3e} at 32 bits: {:.2f}x fewer ({:.1f}% of fp32)\n", bitops, bitops32,
               bitops32 / bitops, 100 * bitops / bitops32);
    if (results && !quiet) fmt::print("results: {} (group \"{}\")\n", results->path(), req.group);
    std::fflush(stdout);
  }
  return RunOutcome::Trained;
}

}  // namespace lpsim::cli
