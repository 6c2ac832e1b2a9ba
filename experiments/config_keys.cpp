// The key table: one line per knob. To expose a new field of a config
// struct (e.g. a knob of nn::PolicyConfig), add one KEY line here; parsing,
// overrides, validation, printing and the docs' key list follow from it.
#include "experiments/run_config.hpp"

namespace lpsim::cli {

#define KEY(path, member, check, help) \
  Key { path, [](RunConfig& c) -> ValueRef { return &c.member; }, check, help }

const std::vector<Key>& keys() {
  static const std::vector<Key> table = {
      KEY("model.arch", train.model.arch, Check::None, "mlp, lenet5, resnet<6n+2> (resnet20, resnet56, ...)"),
      KEY("model.hidden", train.model.hidden, Check::Positive, "hidden units of mlp"),
      KEY("dataset", train.dataset, Check::None, "fashion-mnist, cifar10, cifar100"),
      KEY("data_dir", train.data_dir, Check::None, "dataset directory (empty: Debian's for fashion-mnist)"),
      KEY("train_subset", train.train_subset, Check::None, "> 0: train on a seeded random subset of this size"),
      KEY("test_subset", train.test_subset, Check::None, "> 0: test on a seeded random subset of this size"),
      KEY("augment", train.augment, Check::None, "random crop and horizontal flip"),
      KEY("epochs", train.epochs, Check::Positive, "training epochs"),
      KEY("batch", train.batch, Check::Positive, "mini-batch size"),
      KEY("seed", train.seed, Check::None, "seed of initialisation, shuffling, subsets and stochastic rounding"),
      KEY("threads", threads, Check::None, "OpenMP threads (0: default); results do not depend on it"),
      KEY("output", output, Check::None, "HDF5 results file (empty: print only)"),
      KEY("optimizer.kind", train.optimizer.kind, Check::None, "sgd, nesterov, adam"),
      KEY("optimizer.momentum", train.optimizer.momentum, Check::None, "sgd/nesterov momentum"),
      KEY("optimizer.weight_decay", train.optimizer.weight_decay, Check::None, "L2 weight decay"),
      KEY("optimizer.beta1", train.optimizer.beta1, Check::None, "adam beta1"),
      KEY("optimizer.beta2", train.optimizer.beta2, Check::None, "adam beta2"),
      KEY("optimizer.eps", train.optimizer.eps, Check::None, "adam epsilon"),
      KEY("schedule.kind", train.schedule.kind, Check::None, "const, step, cosine"),
      KEY("schedule.lr", train.schedule.lr, Check::None, "peak learning rate"),
      KEY("schedule.warmup_iters", train.schedule.warmup_iters, Check::None, "linear warm-up iterations"),
      KEY("schedule.milestones", train.schedule.milestones, Check::None, "step: fractions of training where lr *= gamma"),
      KEY("schedule.gamma", train.schedule.gamma, Check::None, "step: decay factor"),
      KEY("precision.w", train.precision.w, Check::Quant, "weight format, e.g. int8/minmax/channel, e4m3fn (empty: fp32)"),
      KEY("precision.a", train.precision.a, Check::Quant, "activation format"),
      KEY("precision.e", train.precision.e, Check::Quant, "error (dY) format"),
      KEY("precision.g", train.precision.g, Check::Quant, "weight-gradient format"),
      KEY("precision.w_round", train.precision.w_round, Check::Rounding, "rounding of weights"),
      KEY("precision.a_round", train.precision.a_round, Check::Rounding, "rounding of activations"),
      KEY("precision.e_round", train.precision.e_round, Check::Rounding, "rounding of errors"),
      KEY("precision.g_round", train.precision.g_round, Check::Rounding, "rounding of weight gradients"),
      KEY("precision.mac_fwd", train.precision.mac_fwd, Check::Mac, "MAC of Y = W X"),
      KEY("precision.mac_bwd_data", train.precision.mac_bwd_data, Check::Mac, "MAC of dX = W^T dY"),
      KEY("precision.mac_bwd_weight", train.precision.mac_bwd_weight, Check::Mac, "MAC of dW = dY X^T"),
      KEY("precision.keep_first_last", train.precision.keep_first_last, Check::None, "first and last layers stay fp32"),
      KEY("precision.count_events", train.precision.count_events, Check::None, "count swamped/overflowed additions"),
      KEY("precision.measure_error", train.precision.measure_error, Check::None, "error and SQNR against fp64 (slow)"),
      KEY("policy.kind", train.policy.kind, Check::None, "precision policy: static"),
  };
  return table;
}

#undef KEY

const std::vector<KeyAlias>& key_aliases() {
  static const std::vector<KeyAlias> table = {
      {"precision.mac", {"precision.mac_fwd", "precision.mac_bwd_data", "precision.mac_bwd_weight"},
       "MAC of all three products"},
  };
  return table;
}

const Key* find_key(const std::string& path) {
  for (const Key& k : keys())
    if (path == k.path) return &k;
  return nullptr;
}

RunConfig default_run_config() { return RunConfig{}; }

}  // namespace lpsim::cli
