// The key table: one line per knob. To expose a new field of a config
// struct (e.g. a knob of nn::PolicyConfig), add one KEY line here; parsing,
// overrides, validation, printing and the docs' key list follow from it.
#include "experiments/run_config.hpp"

namespace lpsim::cli {

#define KEY(path, member, check, help) \
  Key { path, [](RunConfig& c) -> ValueRef { return &c.member; }, check, help }

const std::vector<Key>& keys() {
  static const std::vector<Key> table = {
      KEY("model.arch", train.model.arch, Check::None, "mlp, lenet5, resnet<6n+2> (resnet20, resnet56, ...), mobilenetv2[_<width>]"),
      KEY("model.hidden", train.model.hidden, Check::Positive, "hidden units of mlp"),
      KEY("model.norm", train.model.norm, Check::None, "normalisation layers: batch, range (Range BN, Banner et al. 2018)"),
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
      KEY("precision.master", train.precision.master, Check::Master,
          "master-weight format after each update: bf16, fp16, fx16.12 (empty: fp32)"),
      KEY("precision.master_round", train.precision.master_round, Check::Rounding, "rounding of master weights (sr: stochastic)"),
      KEY("precision.keep_first_last", train.precision.keep_first_last, Check::None, "first and last layers stay fp32"),
      KEY("precision.count_events", train.precision.count_events, Check::None, "count swamped/overflowed additions"),
      KEY("precision.measure_error", train.precision.measure_error, Check::None, "error and SQNR against fp64 (slow)"),
      KEY("policy.kind", train.policy.kind, Check::None,
          "precision policy: static, sbm, cpt, pfq, dpc, dpc_adaptive, dpc_cpt, ldp, factor (docs/policies.md)"),
      KEY("policy.keep_first_last", train.policy.keep_first_last, Check::None, "policies leave the first and last product layers as they are"),
      KEY("policy.w_scale", train.policy.w_scale, Check::None, "weights' scale rule/granularity (empty: the method's own)"),
      KEY("policy.a_scale", train.policy.a_scale, Check::None, "activations' scale rule/granularity"),
      KEY("policy.a_range", train.policy.a_range, Check::None,
          "activation ranges in evaluation: batch, ema (running, as QuantMeasure); empty: the method's own"),
      KEY("policy.e_scale", train.policy.e_scale, Check::None, "errors' scale rule/granularity"),
      KEY("policy.w_rounding", train.policy.w_rounding, Check::Rounding, "weights' rounding under a policy"),
      KEY("policy.a_rounding", train.policy.a_rounding, Check::Rounding, "activations' rounding under a policy"),
      KEY("policy.e_rounding", train.policy.e_rounding, Check::Rounding, "errors' rounding under a policy"),
      KEY("policy.bmin_fwd", train.policy.bmin_fwd, Check::Positive, "lowest forward (W, A) bits"),
      KEY("policy.bmax_fwd", train.policy.bmax_fwd, Check::Positive, "highest forward bits"),
      KEY("policy.bmin_bwd", train.policy.bmin_bwd, Check::Positive, "lowest backward (E) bits"),
      KEY("policy.bmax_bwd", train.policy.bmax_bwd, Check::Positive, "highest backward bits"),
      KEY("policy.sbm_bits", train.policy.sbm_bits, Check::Positive, "sbm: bits of W, A and E"),
      KEY("policy.sbm_bifurcation", train.policy.sbm_bifurcation, Check::None, "sbm: a wider error for the weight gradient"),
      KEY("policy.sbm_dw_bits", train.policy.sbm_dw_bits, Check::Positive, "sbm: that error's bits"),
      KEY("policy.cpt_cycles", train.policy.cpt_cycles, Check::Positive, "cpt: precision cycles over the run"),
      KEY("policy.cpt_range_test", train.policy.cpt_range_test, Check::None, "cpt: choose bmin_fwd by the precision range test"),
      KEY("policy.prt_start_bits", train.policy.prt_start_bits, Check::Positive, "cpt range test: first precision"),
      KEY("policy.prt_iters", train.policy.prt_iters, Check::Positive, "cpt range test: iterations per precision"),
      KEY("policy.prt_threshold", train.policy.prt_threshold, Check::None, "cpt range test: accuracy gain that ends it"),
      KEY("policy.pfq_bits_fwd", train.policy.pfq_bits_fwd, Check::None, "pfq: forward bits of each phase"),
      KEY("policy.pfq_bits_bwd", train.policy.pfq_bits_bwd, Check::None, "pfq: backward bits of each phase"),
      KEY("policy.pfq_interval", train.policy.pfq_interval, Check::None, "pfq: iterations per evaluation interval (0: one epoch)"),
      KEY("policy.pfq_window", train.policy.pfq_window, Check::Positive, "pfq: evaluation intervals compared"),
      KEY("policy.pfq_threshold", train.policy.pfq_threshold, Check::None, "pfq: initial relative loss change of a plateau"),
      KEY("policy.pfq_decay", train.policy.pfq_decay, Check::None, "pfq: threshold decay at turning points"),
      KEY("policy.pfq_scale_intervals", train.policy.pfq_scale_intervals, Check::Positive, "pfq: evaluation intervals of the loss scale"),
      KEY("policy.delta", train.policy.delta, Check::None, "dpc/factor: spread of the layer-wise bits"),
      KEY("policy.cos_bounds", train.policy.cos_bounds, Check::None, "dpc: bmin from the cosine similarity of W and Q(W)"),
      KEY("policy.cos_threshold", train.policy.cos_threshold, Check::None, "dpc: that similarity's threshold"),
      KEY("policy.adpc_stable_cv", train.policy.adpc_stable_cv, Check::None, "dpc_adaptive: gradient-norm CV below this: -1 bit"),
      KEY("policy.adpc_noisy_cv", train.policy.adpc_noisy_cv, Check::None, "dpc_adaptive: CV above this: +1 bit"),
      KEY("policy.dpc_cpt_amplitude", train.policy.dpc_cpt_amplitude, Check::None, "dpc_cpt: each layer cycles over B_k -/+ this"),
      KEY("policy.ldp_lr", train.policy.ldp_lr, Check::None, "ldp: step size of beta"),
      KEY("policy.ldp_lambda", train.policy.ldp_lambda, Check::None, "ldp: weight of the cost loss"),
      KEY("policy.ldp_target", train.policy.ldp_target, Check::None, "ldp: BitOPs threshold as a fraction of bmax_fwd's"),
  };
  return table;
}

#undef KEY

const std::vector<KeyAlias>& key_aliases() {
  static const std::vector<KeyAlias> table = {
      {"precision.mac", {"precision.mac_fwd", "precision.mac_bwd_data", "precision.mac_bwd_weight"},
       "MAC of all three products"},
      // Renamed keys, so that result files written before the rename still resume.
      {"policy.pfq_scale_epochs", {"policy.pfq_scale_intervals"}, "former name of policy.pfq_scale_intervals"},
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
