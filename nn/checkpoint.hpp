// The state of a training run at an epoch end: everything a resumed run needs
// to continue bit for bit. Hunted down from the training step:
//   parameters and the optimizer's per-parameter slots (nn/optim.cpp),
//   BatchNorm running statistics (nn/layers/batchnorm2d.*),
//   each product layer's `iteration`, which keys every stochastic-rounding
//   draw of a step (nn/product.cpp draw_key),
//   the global iteration (learning rate, Adam's bias correction),
//   the epoch (the Loader's order and augmentation are pure functions of
//   (seed, epoch), data/batches.hpp, so the epoch number is its position),
//   the precision policy's state() and the history of finished epochs.
// Data sets, subsets, normalisation and the initial model are recomputed
// from the config, which is deterministic.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nn/model.hpp"
#include "nn/policy.hpp"
#include "nn/train.hpp"

namespace lpsim::nn {

struct NamedArray {
  std::string name;  // "<param>", "<param>#slot<i>", "<bn>.running_mean", "<bn>.running_var"
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};

struct TrainState {
  int epochs_done = 0;
  std::int64_t iteration = 0;
  std::vector<EpochRecord> history;
  std::vector<NamedArray> arrays;
  std::vector<std::pair<std::string, std::uint64_t>> counters;  // "<layer>.iteration"
  std::vector<double> policy;
};

// The model's tensors that training changes: parameters, optimizer slots,
// BatchNorm running statistics (also the final weights of a results file).
std::vector<NamedArray> model_arrays(Model& m, bool with_optimizer_state);

TrainState capture_state(Model& m, const PrecisionPolicy& policy, int epochs_done, std::int64_t iteration,
                         const std::vector<EpochRecord>& history);

// Throws std::runtime_error naming a tensor or counter that is missing,
// extra or of another shape (a checkpoint of a different model).
void restore_state(Model& m, PrecisionPolicy& policy, const TrainState& s);

// A checkpoint file: a versioned little-endian binary image of the state,
// written to `path`.tmp, fsynced and renamed, so `path` is always a whole
// checkpoint even if the process is killed while writing.
void save_checkpoint(const std::string& path, const TrainState& s);
// Throws std::runtime_error naming the file for a missing, truncated or
// foreign file.
TrainState load_checkpoint(const std::string& path);

}  // namespace lpsim::nn
