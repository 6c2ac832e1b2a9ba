// The training loop: data -> model -> loss -> backward -> optimizer, every
// matrix product on the emulated hardware of each layer's LayerPrecision.
#pragma once

#include <stdexcept>

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nn/models.hpp"
#include "nn/optim.hpp"
#include "nn/policy.hpp"
#include "sim/stats.hpp"

namespace lpsim::nn {

// One precision for every Conv2d/Linear, refined per layer by LayerOverride.
struct PrecisionConfig {
  std::string w, a, e, g;  // quantizer spellings (nn/quantizer.hpp); empty = fp32
  std::string w_round = "rne", a_round = "rne", e_round = "sr", g_round = "rne";
  std::string mac_fwd = "fp32", mac_bwd_data = "fp32", mac_bwd_weight = "fp32";
  // Master weights (every trainable parameter) stored in this absolute
  // format after each update (nn/optim.hpp round_master); empty or fp32: fp32.
  std::string master, master_round = "rne";
  // First and last layers stay fp32, as SBM (Banner et al. 2018) and most
  // low-precision training papers do.
  bool keep_first_last = true;
  bool count_events = false;  // swamping/overflow counts per product (disables some fast kernels)
  bool measure_error = false; // error against an fp64 product for every product (doubles the work)
};

// Formats of the product layers whose names match a glob (fnmatch: `*`, `?`,
// `[...]`), applied on top of the global precision in the order given, to the
// first and last layers too (an explicit choice beats keep_first_last).
// Empty optionals keep what the layer had; a format without a rounding takes
// the global rounding of its tensor, a rounding alone re-rounds the layer's
// current format (an unquantized tensor stays unquantized).
struct LayerOverride {
  std::string match;
  std::string origin;  // where it was written ("run.toml:12:1"), prefixed to errors; not a setting
  std::optional<std::string> w, a, e, g, w_round, a_round, e_round, g_round;
  std::optional<std::string> mac_fwd, mac_bwd_data, mac_bwd_weight;
};

// Sets every product layer's LayerPrecision; layer i draws random bits from
// stream i*1024 of `seed`. Throws std::invalid_argument naming the bad spelling.
void apply_precision(Model& m, const PrecisionConfig& p, std::uint64_t seed);
// Then the overrides; a glob matching no product layer is an error naming it
// and the layers there are.
void apply_precision(Model& m, const PrecisionConfig& p, std::uint64_t seed, const std::vector<LayerOverride>& layers);

struct TrainConfig {
  ModelSpec model;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  PrecisionConfig precision;  // the starting formats of every product layer
  std::vector<LayerOverride> layers;  // per-layer formats on top of `precision`
  PolicyConfig policy;        // what changes them during training
  int epochs = 5, batch = 128;
  std::uint64_t seed = 0;
  std::string dataset = "fashion-mnist";  // fashion-mnist, cifar10, cifar100
  std::string data_dir;                    // empty: the dataset's default place
  int train_subset = 0, test_subset = 0;   // > 0: a seeded random subset of that size
  bool augment = false;                    // random crop (padding 4 for 32x32, 2 for 28x28) and flip
};

// What one product layer did in one epoch's training steps. Index 0, 1, 2 of
// the arrays: the forward, error (dX) and weight-gradient products.
struct LayerEpoch {
  std::string name;
  int depth = -1;
  std::int64_t params = 0;                    // parameter count
  double bits_w = 0, bits_a = 0, bits_e = 0, bits_g = 0;  // mean over the epoch's steps (policies may vary them)
  std::int64_t k[3] = {0, 0, 0};              // accumulation length, of the epoch's first step (0: not computed)
  double usage_a[3] = {0, 0, 0}, usage_b[3] = {0, 0, 0};  // mean usage frequency of each operand's elements, first step
  sim::MacCounts counts[3];                   // summed over the epoch (zero unless precision.count_events)
  bool has_error = false;                     // precision.measure_error: the next three are set
  double max_rel_error[3] = {0, 0, 0};        // worst over the epoch's steps
  double mean_rel_error[3] = {0, 0, 0};       // mean over the steps
  double sqnr_db[3] = {0, 0, 0};              // mean over the steps
  double policy_param = NAN;                  // the policy's learned parameter at the epoch's end (LDP's beta)
};

struct EpochRecord {
  int epoch = 0;
  double train_loss = 0, train_acc = 0, test_loss = 0, test_acc = 0, lr = 0;
  double seconds = 0, images_per_second = 0;
  double bitops = 0, bitops_fp32 = 0;  // training BitOPs of the epoch, and of the same work at 32 bits
  std::vector<LayerEpoch> layers;      // per product layer, in depth order
};

struct TrainState;

// What a caller can hook into a run: progress and results after each epoch,
// a checkpoint after each epoch (nn/checkpoint.hpp), and a checkpoint to
// start from. A resumed run gives the same bits as an uninterrupted one.
struct TrainHooks {
  std::function<void(const EpochRecord&, const Model&)> on_epoch;
  std::function<void(const TrainState&)> on_checkpoint;
  // Called once, after the last epoch, with the trained model (final weights).
  std::function<void(Model&)> on_end;
  // Called after every training batch (epoch and batch from 1): progress
  // within an epoch; returning true stops the run there (throws Interrupted).
  std::function<bool(int epoch, std::int64_t batch, std::int64_t batches)> on_batch;
  // Told, before the first step, of a likely mistake in the config that
  // still runs (an absolute format that rounds most of a layer's weights to 0).
  std::function<void(const std::string&)> on_warning;
  const TrainState* resume = nullptr;
};

// Checks a config without data: dataset name, model, formats, MAC configs,
// per-layer globs, policy, optimizer and schedule kinds. Throws
// std::invalid_argument naming the bad value (what train() would throw later).
void check_config(const TrainConfig& cfg);

// Called after each epoch (for progress lines and result files).
using EpochCallback = std::function<void(const EpochRecord&, const Model&)>;

// A run whose loss stopped being finite; the message names the epoch, batch,
// iteration, learning rate and the first parameter that is no longer finite.
struct Diverged : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A run stopped between two batches because TrainHooks::on_batch asked it
// to; the last checkpoint (the end of the epoch before) resumes it.
struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<EpochRecord> train(const TrainConfig& cfg, const EpochCallback& on_epoch = {});
// The whole history, including the epochs of a resumed checkpoint.
std::vector<EpochRecord> train(const TrainConfig& cfg, const TrainHooks& hooks);

// BitOPs of the latest step of a product layer (forward, error, weight
// gradient; MACs x operand bits x operand bits) and the same at 32 bits.
void step_bitops(const Layer<float>& layer, double& bitops, double& bitops_fp32);

}  // namespace lpsim::nn
