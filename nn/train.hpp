// The training loop: data -> model -> loss -> backward -> optimizer, every
// matrix product on the emulated hardware of each layer's LayerPrecision.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nn/models.hpp"
#include "nn/optim.hpp"
#include "nn/policy.hpp"

namespace lpsim::nn {

// One precision for every Conv2d/Linear (per-layer policies come later).
struct PrecisionConfig {
  std::string w, a, e, g;  // quantizer spellings (nn/quantizer.hpp); empty = fp32
  std::string w_round = "rne", a_round = "rne", e_round = "sr", g_round = "rne";
  std::string mac_fwd = "fp32", mac_bwd_data = "fp32", mac_bwd_weight = "fp32";
  // First and last layers stay fp32, as SBM (Banner et al. 2018) and most
  // low-precision training papers do.
  bool keep_first_last = true;
  bool count_events = false;  // swamping/overflow counts per product (disables some fast kernels)
};

// Sets every product layer's LayerPrecision; layer i draws random bits from
// stream i*1024 of `seed`. Throws std::invalid_argument naming the bad spelling.
void apply_precision(Model& m, const PrecisionConfig& p, std::uint64_t seed);

struct TrainConfig {
  ModelSpec model;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  PrecisionConfig precision;  // the starting formats of every product layer
  PolicyConfig policy;        // what changes them during training
  int epochs = 5, batch = 128;
  std::uint64_t seed = 0;
  std::string dataset = "fashion-mnist";  // fashion-mnist, cifar10, cifar100
  std::string data_dir;                    // empty: the dataset's default place
  int train_subset = 0, test_subset = 0;   // > 0: a seeded random subset of that size
  bool augment = false;                    // random crop (padding 4 for 32x32, 2 for 28x28) and flip
};

struct EpochRecord {
  int epoch = 0;
  double train_loss = 0, train_acc = 0, test_loss = 0, test_acc = 0, lr = 0;
  double seconds = 0, images_per_second = 0;
  double bitops = 0, bitops_fp32 = 0;  // training BitOPs of the epoch, and of the same work at 32 bits
};

// Called after each epoch (for progress lines and result files).
using EpochCallback = std::function<void(const EpochRecord&, const Model&)>;

std::vector<EpochRecord> train(const TrainConfig& cfg, const EpochCallback& on_epoch = {});

// BitOPs of the latest step of a product layer (forward, error, weight
// gradient; MACs x operand bits x operand bits) and the same at 32 bits.
void step_bitops(const Layer<float>& layer, double& bitops, double& bitops_fp32);

}  // namespace lpsim::nn
