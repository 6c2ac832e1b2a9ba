// What the precision policies share: the layers they change, the min-max
// integer quantizers they build from a bit width, the schedule and
// allocation formulas (pure functions, so tests check them against the
// papers' formulas), and a checked reader for their saved state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nn/layer.hpp"
#include "nn/policy.hpp"
#include "nn/precision.hpp"

namespace lpsim::nn::policies {

// Throws std::invalid_argument "policy <kind>: <what>" unless ok.
void require(bool ok, const std::string& kind, const std::string& what);
// Checks lo <= bits <= hi, naming the knob.
void require_bits(int bits, const std::string& kind, const std::string& knob, int lo = 2, int hi = 32);

LayerPrecision* precision_of(Layer<float>* l);
Param<float>* weight_of(Layer<float>* l);
int bits_of(const std::optional<QuantSpec>& q);  // element width, 32 when not quantized
// The widths BitOPs count: the formats', or the layer's w_bits/a_bits/e_bits
// where a policy set them (more bits than a float layer holds).
LayerBits counted_bits(const LayerPrecision& p);
std::int64_t parameter_count(Layer<float>* l);   // weights and bias

// A product layer a policy sets; `depth` is its index in product_layers().
struct Target {
  Layer<float>* layer = nullptr;
  LayerPrecision* precision = nullptr;
  int depth = -1;
};
// Every product layer but those `keep` ("first,last", "last", "first",
// "none") names; throws std::invalid_argument for another spelling.
std::vector<Target> targets_of(Model& m, const std::string& keep);
std::pair<bool, bool> parse_keep(const std::string& keep);  // {first, last}; throws as targets_of

// Quantizers "int<b>/<scale>" of W, A and E, parsed once per width. A width
// above 24 gets the 24-bit quantizer (the finest a float holds).
class Formats {
 public:
  // c: with its method's defaults (with_method_defaults). Throws
  // std::invalid_argument naming the knob of a bad scale or rounding.
  explicit Formats(const PolicyConfig& c);
  const QuantSpec& w(int bits) const { return get(w_, w_scale_, w_round_, bits); }
  const QuantSpec& a(int bits) const { return get(a_, a_scale_, a_round_, bits); }
  const QuantSpec& e(int bits) const { return get(e_, e_scale_, e_round_, bits); }
  // 32 bits: no quantizer (fp32); 25-31: the 24-bit one, the width kept for BitOPs.
  void set(LayerPrecision& p, int w_bits, int a_bits, int e_bits) const;
  const std::string& w_scale() const { return w_scale_; }

 private:
  const QuantSpec& get(std::map<int, QuantSpec>& cache, const std::string& scale, const std::string& rounding,
                       int bits) const;
  std::string w_scale_, a_scale_, e_scale_, w_round_, a_round_, e_round_;
  mutable std::map<int, QuantSpec> w_, a_, e_;
};

// CPT (Fu et al. ICLR 2021, and the authors' cyclic_adjust_precision):
// rint(bmin + (bmax - bmin)/2 * (1 - cos(pi * (t mod period) / period))),
// rint rounding half to even as numpy's; t mod period is fmod.
int cyclic_bits(std::int64_t t, double period, int bmin, int bmax);
// The period T = total / cycles, not rounded (at least 1). The authors take
// int(total / cycles): the same where cycles divide the iterations (their
// 64000 / 32), but otherwise the last iterations open one more cycle at
// bmin, and the final evaluation (at the last iteration's precision) runs at
// bmin -- 3 bits in a 316-iteration run of 32 cycles. A real T tiles the run
// with the cycles, which end at the top as theirs do.
double cyclic_period(std::int64_t total, int cycles);

double median(std::vector<double> v);

// DPC (Shen, Lai et al. 2024): B_k = ceil((bmax + bmin)/2 - delta/2 (bmax - bmin)
// log_R(size_k / median)), R = max(size_max / median, median / size_min),
// clamped to [bmin, bmax]. All sizes equal (R = 1): every layer gets the middle.
// Sizes must be positive. `sided` (policy.dpc_spread = "sided", the other
// reading of the garbled formula): R = size_max / median for the layers above
// the median and median / size_min below it, so that with delta = 1 both
// extremes reach their ends of [bmin, bmax].
std::vector<int> capacity_bits(const std::vector<double>& sizes, int bmin, int bmax, double delta, bool sided = false);

double cosine_similarity(std::span<const float> a, std::span<const float> b);

// DPC's lower bound: the fewest bits b in [2, bmax] for which every weight
// tensor keeps cos(W, Q_b(W)) >= threshold under quantizer formats.w(b);
// bmax when none does.
int cosine_bmin(const std::vector<const Tensor<float>*>& weights, const Formats& formats, int bmax,
                double threshold);

// The capacity rule's knobs (DPC and factor-aware): bmax_fwd, bmax_bwd,
// delta, and the lower bound, bmin_fwd or (cos_bounds) cos_threshold.
void require_capacity_knobs(const PolicyConfig& c);
// The capacity rule's lower bound: cosine_bmin over the targets' current
// weights with cos_bounds, else bmin_fwd.
int capacity_bmin(const std::vector<Target>& targets, const Formats& formats, const PolicyConfig& c);

// Reads a saved state: a kind tag, then values, each checked.
class StateReader {
 public:
  StateReader(const std::vector<double>& s, double tag, std::size_t expected, const std::string& kind);
  double next() { return s_[i_++]; }
  int next_int() { return int(s_[i_++]); }

 private:
  const std::vector<double>& s_;
  std::size_t i_ = 1;
};

// The base of the policies below: the knobs, the quantizers, the layers set
// (found in begin) and their current bits, applied in before_step.
class LayerwisePolicy : public PrecisionPolicy {
 public:
  // Throws std::invalid_argument for a bad a_range (or "ema" with per-channel/block activation scales),
  // a_momentum or keep_fp32. Keeps c with its method's defaults filled in.
  explicit LayerwisePolicy(const PolicyConfig& c);
  std::string name() const override { return cfg_.kind; }
  void begin(Model& m, const PolicyContext& ctx) override;
  void before_step(Model&, std::int64_t) override { apply(); }

 protected:
  void apply() const;  // bits_ to the targets' formats
  PolicyConfig cfg_;
  Formats formats_;
  PolicyContext ctx_;
  std::vector<Target> targets_;
  std::vector<LayerBits> bits_;  // of each target (g unused: the policies leave G as configured)
};

}  // namespace lpsim::nn::policies
