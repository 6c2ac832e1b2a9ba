// Precision policies: what decides, for every product layer and every
// iteration, the formats of its W, A, E and G (the dynamic-precision methods of
// the literature). The training loop calls the hooks below in this order:
//   begin                          once, after apply_precision set the static formats
//   per iteration: before_step -> forward/backward -> after_backward -> optimizer -> after_step
//   end_epoch                      after the epoch's evaluation
// A policy changes the LayerPrecision of the model's product layers
// (Model::product_layers(), depth = index there). BitOPs are read from those
// formats after each step, so whatever a policy sets is what gets counted:
// the policies of nn/policies therefore change formats only in begin and
// before_step, never after the step they would be counted for.
// The methods, their knobs and every choice made where the papers leave
// room: docs/policies.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nn/model.hpp"

namespace lpsim::nn {

struct EpochRecord;

struct PolicyContext {
  std::int64_t iterations_per_epoch = 0, total_iterations = 0;
  int epochs = 0;
  std::uint64_t seed = 0;
};

class PrecisionPolicy {
 public:
  virtual ~PrecisionPolicy() = default;
  virtual std::string name() const = 0;
  virtual void begin(Model&, const PolicyContext&) {}
  virtual void before_step(Model&, std::int64_t /*iteration*/) {}
  // Gradients are in the params; the optimizer has not run yet.
  virtual void after_backward(Model&, std::int64_t /*iteration*/) {}
  virtual void after_step(Model&, std::int64_t /*iteration*/, double /*loss*/, double /*batch_accuracy*/) {}
  virtual void end_epoch(Model&, const EpochRecord&) {}
  // A learned per-layer parameter to record each epoch (LDP's beta), by depth.
  virtual std::optional<double> layer_param(int /*depth*/) const { return std::nullopt; }
  // Everything a resumed run needs to continue bit for bit (checkpoints).
  // A resumed run calls begin and then set_state (set_state overrides what
  // begin derived from the model, e.g. DPC's bounds from the weights).
  // set_state throws std::invalid_argument for a state of the wrong size or kind.
  virtual std::vector<double> state() const { return {}; }
  virtual void set_state(const std::vector<double>&) {}
};

// The policy that keeps apply_precision's formats (static precision).
class StaticPolicy : public PrecisionPolicy {
 public:
  std::string name() const override { return "static"; }
};

// Bits of each quantization point of a layer: the element width of its
// format, 32 for fp32 (no quantizer), as step_bitops counts them.
struct LayerBits {
  int w = 32, a = 32, e = 32, g = 32;
  int e_dw = 0;  // SBM's gradient bifurcation: the width of the error entering dW; 0 = none (e's)
  bool operator==(const LayerBits&) const = default;
};

// The current bits of every product layer, in depth order (for bit
// histories in result files; read straight from each LayerPrecision).
std::vector<LayerBits> layer_bits(Model&);

// Every knob of every policy, by the name configs and Python use
// (TOML key policy.<field>). Bits are element widths of min-max integer
// quantizers "int<b>/<scale>", 2 to 32: 32 is fp32 (no quantizer); 25-31
// quantize at 24 (as fine as a float layer holds) and count their own width
// in BitOPs. The meaning of each knob: docs/policies.md.
struct PolicyConfig {
  // static, sbm, cpt, pfq, dpc, dpc_adaptive, dpc_cpt, ldp, factor
  std::string kind = "static";

  // Shared by every policy but static. An empty string or a negative number
  // is the method's own choice (with_method_defaults, docs/policies.md).
  // The product layers left as apply_precision set them: "first,last",
  // "last", "first" or "none" (empty: "last" for cpt and pfq, whose authors'
  // code quantizes the stem conv, else "first,last").
  std::string keep_fp32;
  // Quantizer scale rules (empty: offset/channel, offset/tensor for cpt and
  // pfq as their code; SBM minmax/tensor for W; else minmax/channel, minmax/tensor).
  std::string w_scale, a_scale, e_scale;
  std::string w_rounding = "rne", a_rounding = "rne", e_rounding = "sr";
  // Activation ranges in evaluation: "batch" (each batch its own), "ema"
  // (running ranges, nn/product.hpp RunningRange), empty: the method's own
  // (ema for sbm, cpt, pfq and dpc_cpt, whose authors' code uses QuantMeasure).
  std::string a_range;
  // The weight of the old running range in each fold (empty/negative: 0.1 for
  // sbm as Banner et al.'s QuantMeasure, 0.9 for cpt, pfq and dpc_cpt as theirs).
  double a_momentum = -1;

  // Forward (W and A) and backward (E) precision bounds: CPT's cycle, and the
  // bounds of the layer-wise methods (dpc*, ldp, factor), whose E is bmax_bwd.
  int bmin_fwd = 3, bmax_fwd = 8, bmin_bwd = 8, bmax_bwd = 8;

  // SBM (Banner et al. 2018).
  int sbm_bits = 8;                 // W, A and E
  bool sbm_bifurcation = false;     // a wider error for the weight-gradient product
  int sbm_dw_bits = 16;             // that error's width

  // CPT (Fu et al. 2021).
  int cpt_cycles = 32;              // cycles over the whole run
  bool cpt_range_test = false;      // choose bmin_fwd by the precision range test
  int prt_start_bits = 2;           // the test's first precision
  int prt_iters = 20;               // iterations at each precision of the test
  double prt_threshold = 0.02;      // training-accuracy gain that ends the test

  // PFQ (FracTrain, Fu et al. 2020).
  std::vector<int> pfq_bits_fwd = {3, 4, 6, 8};
  std::vector<int> pfq_bits_bwd = {6, 6, 8, 8};
  int pfq_interval = 0;             // iterations per evaluation interval; 0: one epoch
  int pfq_window = 5;               // evaluation intervals compared
  double pfq_threshold = 0.15;      // initial relative loss change of a plateau
  double pfq_decay = 0.4;           // threshold *= decay after the 1st and 2nd turning points
  int pfq_scale_intervals = 10;     // the loss scale is the mean training loss of these first intervals

  // DPC (Shen, Lai et al. 2024) and factor-aware allocation.
  double delta = 1.0;               // spread of the layer-wise bits
  bool cos_bounds = true;           // bmin from the cosine similarity of W and Q(W); else bmin_fwd
  double cos_threshold = 0.99;
  double adpc_stable_cv = 0.15;     // dpc_adaptive: epoch CV of the layer's gradient norm below this: -1 bit
  double adpc_noisy_cv = 0.5;       // above this: +1 bit
  // dpc_cpt: "down" cycles each layer from ceil(dpc_cpt_low x B_k) up to B_k
  // (the paper's temporal saving); "centered" over [B_k - A, B_k + A].
  std::string dpc_cpt_mode = "down";
  std::string dpc_spread = "max";   // dpc*: R of log_R, "max" (one R for all) or "sided" (docs/policies.md)
  double dpc_cpt_low = 0.5;
  int dpc_cpt_amplitude = 2;        // centered: A

  // LDP (Yu et al. 2022).
  double ldp_lr = 0.05;             // step size of beta
  double ldp_lambda = 1.0;          // weight of the cost loss against the task loss
  double ldp_target = 0.5;          // threshold T as a fraction of the forward BitOPs at bmax_fwd
  // Per-layer balancing of the two precision gradients: each scaled by the
  // inverse of its running RMS (momentum ldp_balance_momentum), so that
  // neither loss dominates by its scale; false: the raw sum.
  bool ldp_balance = true;
  double ldp_balance_momentum = 0.9;
};

// The config with every "method's own" knob (empty or negative) filled in as
// that method's authors' code does (docs/policies.md, "Per-method defaults").
PolicyConfig with_method_defaults(PolicyConfig c);

// Throws std::invalid_argument naming an unknown kind or a bad knob value.
std::unique_ptr<PrecisionPolicy> make_policy(const PolicyConfig&);

}  // namespace lpsim::nn
