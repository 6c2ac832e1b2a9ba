// The key table: one line per knob. To expose a new field of a config
// struct (e.g. a knob of nn::PolicyConfig), add one KEY line here; parsing,
// overrides, validation, printing and the docs' key list follow from it.
#include "experiments/run_config.hpp"

#include <cmath>
#include <sstream>
#include <string>

namespace lpsim::cli {

#define KEY(path, member, check, help) \
  Key { path, [](RunConfig& c) -> ValueRef { return &c.member; }, check, help }
// A numeric key with the range it accepts (closed unless marked open).
#define KEYR(path, member, range, help) \
  Key { path, [](RunConfig& c) -> ValueRef { return &c.member; }, Check::None, help, range }

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr Range closed(double lo, double hi) { return {lo, hi, false, false}; }
constexpr Range positive() { return {0, kInf, true, true}; }       // (0, inf): positive and finite
constexpr Range non_negative() { return {0, kInf, false, true}; }  // [0, inf)
constexpr Range unit_open_top() { return {0, 1, false, true}; }    // [0, 1)
}  // namespace

std::string Range::text() const {
  std::ostringstream t;  // (not string concatenation: GCC 12 -Wrestrict false positive)
  auto num = [&](double v) {
    if (std::isinf(v)) t << (v > 0 ? "inf" : "-inf");
    else if (v == std::floor(v) && std::fabs(v) < 1e15) t << std::int64_t(v);
    else t << v;
  };
  t << (lo_open ? "(" : "[");
  num(lo);
  t << ", ";
  num(hi);
  t << (hi_open ? ")" : "]");
  return t.str();
}

const std::vector<Key>& keys() {
  static const std::vector<Key> table = {
      KEY("model.arch", train.model.arch, Check::None, "mlp, lenet5, resnet<6n+2> (resnet20, resnet56, ...), mobilenetv2[_<width>]"),
      KEYR("model.hidden", train.model.hidden, closed(1, 1 << 20), "hidden units of mlp"),
      KEY("model.norm", train.model.norm, Check::None, "normalisation layers: batch, range (Range BN, Banner et al. 2018)"),
      KEY("dataset", train.dataset, Check::None, "fashion-mnist, cifar10, cifar100"),
      KEY("data_dir", train.data_dir, Check::None, "dataset directory (empty: Debian's for fashion-mnist)"),
      KEYR("train_subset", train.train_subset, closed(0, 1 << 30), "> 0: train on a seeded random subset of this size"),
      KEYR("test_subset", train.test_subset, closed(0, 1 << 30), "> 0: test on a seeded random subset of this size"),
      KEY("augment", train.augment, Check::None, "random crop and horizontal flip"),
      KEYR("epochs", train.epochs, closed(1, 1e6), "training epochs"),
      KEYR("batch", train.batch, closed(1, 1 << 20), "mini-batch size"),
      KEY("seed", train.seed, Check::None, "seed of initialisation, shuffling, subsets and stochastic rounding"),
      KEYR("threads", threads, closed(0, 1024), "OpenMP threads (0: default); results do not depend on it"),
      KEY("output", output, Check::None, "HDF5 results file (empty: print only)"),
      KEY("optimizer.kind", train.optimizer.kind, Check::None, "sgd, nesterov, adam"),
      KEYR("optimizer.momentum", train.optimizer.momentum, unit_open_top(), "sgd/nesterov momentum"),
      KEYR("optimizer.weight_decay", train.optimizer.weight_decay, non_negative(), "L2 weight decay"),
      KEYR("optimizer.beta1", train.optimizer.beta1, unit_open_top(), "adam beta1"),
      KEYR("optimizer.beta2", train.optimizer.beta2, unit_open_top(), "adam beta2"),
      KEYR("optimizer.eps", train.optimizer.eps, positive(), "adam epsilon"),
      KEY("schedule.kind", train.schedule.kind, Check::None, "const, step, cosine"),
      KEYR("schedule.lr", train.schedule.lr, positive(), "peak learning rate"),
      KEYR("schedule.warmup_iters", train.schedule.warmup_iters, closed(0, 1e12), "linear warm-up iterations"),
      KEYR("schedule.milestones", train.schedule.milestones, (Range{0, 1, true, true}), "step: fractions of training where lr *= gamma"),
      KEYR("schedule.gamma", train.schedule.gamma, positive(), "step: decay factor"),
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
      KEY("policy.keep_fp32", train.policy.keep_fp32, Check::None,
          "layers a policy leaves as they are: first,last / last / first / none (empty: the method's own)"),
      KEY("policy.w_scale", train.policy.w_scale, Check::None, "weights' scale rule/granularity (empty: the method's own)"),
      KEY("policy.a_scale", train.policy.a_scale, Check::None, "activations' scale rule/granularity (empty: the method's own)"),
      KEY("policy.a_momentum", train.policy.a_momentum, Check::None,
          "weight of the old running activation range (negative: the method's own, sbm 0.1, else 0.9)"),
      KEY("policy.a_range", train.policy.a_range, Check::None,
          "activation ranges in evaluation: batch, ema (running, as QuantMeasure); empty: the method's own"),
      KEY("policy.e_scale", train.policy.e_scale, Check::None, "errors' scale rule/granularity (empty: the method's own)"),
      KEY("policy.w_rounding", train.policy.w_rounding, Check::Rounding, "weights' rounding under a policy"),
      KEY("policy.a_rounding", train.policy.a_rounding, Check::Rounding, "activations' rounding under a policy"),
      KEY("policy.e_rounding", train.policy.e_rounding, Check::Rounding, "errors' rounding under a policy"),
      KEYR("policy.bmin_fwd", train.policy.bmin_fwd, closed(1, 32), "lowest forward (W, A) bits"),
      KEYR("policy.bmax_fwd", train.policy.bmax_fwd, closed(1, 32), "highest forward bits"),
      KEYR("policy.bmin_bwd", train.policy.bmin_bwd, closed(1, 32), "lowest backward (E) bits"),
      KEYR("policy.bmax_bwd", train.policy.bmax_bwd, closed(1, 32), "highest backward bits"),
      KEYR("policy.sbm_bits", train.policy.sbm_bits, closed(1, 32), "sbm: bits of W, A and E"),
      KEY("policy.sbm_bifurcation", train.policy.sbm_bifurcation, Check::None, "sbm: a wider error for the weight gradient"),
      KEYR("policy.sbm_dw_bits", train.policy.sbm_dw_bits, closed(1, 32), "sbm: that error's bits"),
      KEY("policy.cpt_cycles", train.policy.cpt_cycles, Check::Positive, "cpt: precision cycles over the run"),
      KEY("policy.cpt_range_test", train.policy.cpt_range_test, Check::None, "cpt: choose bmin_fwd by the precision range test"),
      KEYR("policy.prt_start_bits", train.policy.prt_start_bits, closed(1, 32), "cpt range test: first precision"),
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
      KEY("policy.dpc_spread", train.policy.dpc_spread, Check::None,
          "dpc*: log_R's base, max (one R = the larger spread) or sided (each side of the median its own)"),
      KEY("policy.dpc_cpt_mode", train.policy.dpc_cpt_mode, Check::None,
          "dpc_cpt: down (cycle from dpc_cpt_low x B_k up to B_k) or centered (B_k -/+ dpc_cpt_amplitude)"),
      KEY("policy.dpc_cpt_low", train.policy.dpc_cpt_low, Check::None, "dpc_cpt down: the cycle's bottom as a fraction of B_k"),
      KEY("policy.dpc_cpt_amplitude", train.policy.dpc_cpt_amplitude, Check::None, "dpc_cpt centered: each layer cycles over B_k -/+ this"),
      KEY("policy.ldp_lr", train.policy.ldp_lr, Check::None, "ldp: step size of beta"),
      KEY("policy.ldp_lambda", train.policy.ldp_lambda, Check::None, "ldp: weight of the cost loss"),
      KEY("policy.ldp_target", train.policy.ldp_target, Check::None, "ldp: BitOPs threshold as a fraction of bmax_fwd's"),
      KEY("policy.ldp_balance", train.policy.ldp_balance, Check::None, "ldp: balance the task and cost gradients per layer"),
      KEY("policy.ldp_balance_momentum", train.policy.ldp_balance_momentum, Check::None,
          "ldp: momentum of the balancing's running RMS"),
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

const char* retired_key(const std::string& path) {
  if (path == "policy.keep_first_last")
    return "policy.keep_first_last was retired: policy.keep_fp32 = \"first,last\" is the old true, \"none\" the old "
           "false, empty the method's own (docs/policies.md)";
  return nullptr;
}

const Key* find_key(const std::string& path) {
  for (const Key& k : keys())
    if (path == k.path) return &k;
  return nullptr;
}

RunConfig default_run_config() { return RunConfig{}; }

}  // namespace lpsim::cli
