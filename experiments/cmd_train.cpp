// `lpsim train`: train a model on emulated hardware and print one line per
// epoch and a summary (accuracy, BitOPs against the same run at 32 bits).
#include <fmt/core.h>

#include <cstdio>
#include <memory>

#include "experiments/commands.hpp"
#include "nn/train.hpp"

namespace lpsim::cli {

namespace {

std::string clock(double s) {
  const int t = int(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60) : fmt::format("{}:{:02}", t / 60, t % 60);
}

void run(const nn::TrainConfig& c) {
  const auto& p = c.precision;
  if (!quiet) {
    fmt::print("lpsim train: {} on {} ({} epochs, batch {}, seed {})\n", c.model.arch, c.dataset, c.epochs, c.batch,
               c.seed);
    fmt::print("  W={} A={} E={}({}) G={}  fwd MAC {}  bwd MAC {} / {}{}\n", p.w.empty() ? "fp32" : p.w,
               p.a.empty() ? "fp32" : p.a, p.e.empty() ? "fp32" : p.e, p.e_round, p.g.empty() ? "fp32" : p.g, p.mac_fwd,
               p.mac_bwd_data, p.mac_bwd_weight, p.keep_first_last ? "  (first/last layer fp32)" : "");
  }
  double elapsed = 0, bitops = 0, bitops32 = 0;
  const auto history = nn::train(c, [&](const nn::EpochRecord& r, const nn::Model&) {
    elapsed += r.seconds;
    bitops += r.bitops;
    bitops32 += r.bitops_fp32;
    if (quiet) return;
    const double eta = elapsed / r.epoch * (c.epochs - r.epoch);
    fmt::print("epoch {:>3}/{}  loss {:.4f}  train {:6.2f}%  test {:6.2f}%  lr {:.4f}  {:7.1f} img/s  {}  ETA {}\n",
               r.epoch, c.epochs, r.train_loss, 100 * r.train_acc, 100 * r.test_acc, r.lr, r.images_per_second,
               clock(r.seconds), clock(eta));
    std::fflush(stdout);
  });
  const auto& last = history.back();
  fmt::print("final: test accuracy {:.2f}%  (train {:.2f}%, loss {:.4f})  time {}\n", 100 * last.test_acc,
             100 * last.train_acc, last.train_loss, clock(elapsed));
  fmt::print("BitOPs: {:.3e} vs {:.3e} at 32 bits: {:.2f}x fewer ({:.1f}% of fp32)\n", bitops, bitops32,
             bitops32 / bitops, 100 * bitops / bitops32);
}

}  // namespace

void add_train(CLI::App& app) {
  auto c = std::make_shared<nn::TrainConfig>();
  c->model.arch = "lenet5";
  auto* cmd = app.add_subcommand("train", "train a model with every matrix product on the emulated MAC");
  cmd->add_option("--model", c->model.arch, "mlp, lenet5, resnet<6n+2> (resnet20, resnet56, ...)")->capture_default_str();
  cmd->add_option("--dataset", c->dataset, "fashion-mnist, cifar10, cifar100")->capture_default_str();
  cmd->add_option("--data-dir", c->data_dir, "dataset directory (default: Debian's for fashion-mnist)");
  cmd->add_option("--epochs", c->epochs)->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch", c->batch)->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", c->seed)->capture_default_str();
  cmd->add_option("--train-subset", c->train_subset, "train on a seeded random subset of this size")->capture_default_str();
  cmd->add_option("--test-subset", c->test_subset, "test on a seeded random subset of this size")->capture_default_str();
  cmd->add_flag("--augment", c->augment, "random crop and horizontal flip");
  cmd->add_option("--optimizer", c->optimizer.kind, "sgd, nesterov, adam")->capture_default_str();
  cmd->add_option("--lr", c->schedule.lr)->capture_default_str();
  cmd->add_option("--schedule", c->schedule.kind, "const, step, cosine")->capture_default_str();
  cmd->add_option("--warmup", c->schedule.warmup_iters, "linear warm-up iterations")->capture_default_str();
  cmd->add_option("--momentum", c->optimizer.momentum)->capture_default_str();
  cmd->add_option("--weight-decay", c->optimizer.weight_decay)->capture_default_str();
  auto& p = c->precision;
  cmd->add_option("--w", p.w, "weight format, e.g. int8/minmax/channel, e4m3fn (default fp32)");
  cmd->add_option("--a", p.a, "activation format, e.g. int8/minmax/tensor");
  cmd->add_option("--e", p.e, "error (dY) format, e.g. int8/minmax/tensor, e5m2");
  cmd->add_option("--g", p.g, "weight-gradient format");
  cmd->add_option("--w-round", p.w_round)->capture_default_str();
  cmd->add_option("--a-round", p.a_round)->capture_default_str();
  cmd->add_option("--e-round", p.e_round)->capture_default_str();
  cmd->add_option("--g-round", p.g_round)->capture_default_str();
  cmd->add_option("--mac", p.mac_fwd, "MAC of all three products (sets --mac-bwd-data/--mac-bwd-weight too)")
      ->capture_default_str()
      ->each([c](const std::string& v) { c->precision.mac_bwd_data = c->precision.mac_bwd_weight = v; });
  cmd->add_option("--mac-bwd-data", p.mac_bwd_data, "MAC of the error product dX = W^T dY");
  cmd->add_option("--mac-bwd-weight", p.mac_bwd_weight, "MAC of the weight-gradient product dW = dY X^T");
  cmd->add_flag("!--quantize-first-last", p.keep_first_last, "quantize the first and last layers too");
  cmd->add_flag("--count-events", p.count_events, "count swamped/overflowed additions (slower kernels)");
  cmd->callback([c] { run(*c); });
}

}  // namespace lpsim::cli
