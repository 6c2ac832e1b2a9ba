// CPT, cyclic precision training (Fu et al., ICLR 2021). Every iteration t,
// W and A get b_fwd(t) and E gets b_bwd(t) bits, both
//   rint(Bmin + (Bmax - Bmin)/2 * (1 - cos(pi * (t mod T) / T))),
// T = iterations / cpt_cycles, as the authors' cyclic_adjust_precision but
// not rounded down (common.hpp, cyclic_period: the run ends at the top of a
// cycle whatever its length). One cosine ramp from Bmin up to Bmax per
// period. Quantizers as the authors' code: per-output-channel min-max for W,
// per-tensor min-max for A, per-tensor min-max with stochastic rounding for E.
// Evaluation uses the formats of the epoch's last iteration, as the authors'
// validate() uses the current num_bits; activation ranges there are the
// running ones of QuantMeasure (a_range = ema by default, common.cpp).
//
// Precision range test (cpt_range_test, the paper's section 3.3, which gives
// no code): starting from prt_start_bits, train prt_iters iterations at each
// precision (W, A; E at bmax_bwd) and record the mean training accuracy of
// those iterations; Bmin is the first precision whose mean accuracy exceeds
// that of the precision before it by at least prt_threshold (the accuracy
// "starts to rise" there). Reaching bmax_fwd without such a gain gives
// Bmin = bmax_fwd. The test's iterations are training iterations; the cycles
// then run over the iterations left (T = remaining / cpt_cycles).
#include <cmath>
#include <limits>
#include <memory>

#include "nn/policies/common.hpp"
#include "nn/policies/policies.hpp"

namespace lpsim::nn::policies {

namespace {

constexpr double kTag = 2;

class Cpt : public LayerwisePolicy {
 public:
  explicit Cpt(const PolicyConfig& c) : LayerwisePolicy(c) {
    require_bits(c.bmin_fwd, c.kind, "bmin_fwd");
    require_bits(c.bmax_fwd, c.kind, "bmax_fwd");
    require_bits(c.bmin_bwd, c.kind, "bmin_bwd");
    require_bits(c.bmax_bwd, c.kind, "bmax_bwd");
    require(c.bmin_fwd <= c.bmax_fwd, c.kind, "bmin_fwd > bmax_fwd");
    require(c.bmin_bwd <= c.bmax_bwd, c.kind, "bmin_bwd > bmax_bwd");
    require(c.cpt_cycles >= 1, c.kind, "cpt_cycles must be at least 1");
    if (c.cpt_range_test) {
      require_bits(c.prt_start_bits, c.kind, "prt_start_bits", 2, c.bmax_fwd);
      require(c.prt_iters >= 1, c.kind, "prt_iters must be at least 1");
      require(std::isfinite(c.prt_threshold), c.kind, "prt_threshold must be finite");
    }
    bmin_fwd_ = c.bmin_fwd;
    testing_ = c.cpt_range_test;
    test_bits_ = c.prt_start_bits;
  }

  void before_step(Model&, std::int64_t t) override {
    int fwd = test_bits_, bwd = cfg_.bmax_bwd;
    if (!testing_) {
      const double period = cyclic_period(ctx_.total_iterations - test_end_, cfg_.cpt_cycles);
      fwd = cyclic_bits(t - test_end_, period, bmin_fwd_, cfg_.bmax_fwd);
      bwd = cyclic_bits(t - test_end_, period, cfg_.bmin_bwd, cfg_.bmax_bwd);
    }
    for (auto& b : bits_) b = {fwd, fwd, bwd, 32};
    apply();
  }

  void after_step(Model&, std::int64_t t, double, double accuracy) override {
    if (!testing_) return;
    acc_sum_ += accuracy;
    if (++acc_count_ < cfg_.prt_iters) return;
    const double mean = acc_sum_ / acc_count_;
    acc_sum_ = 0, acc_count_ = 0;
    if (!std::isnan(prev_acc_) && mean - prev_acc_ >= cfg_.prt_threshold) {
      finish_test(test_bits_, t + 1);
    } else if (test_bits_ >= cfg_.bmax_fwd) {
      finish_test(cfg_.bmax_fwd, t + 1);
    } else {
      prev_acc_ = mean;
      ++test_bits_;
    }
  }

  std::vector<double> state() const override {
    return {kTag, double(testing_), double(test_bits_), acc_sum_, double(acc_count_), prev_acc_, double(bmin_fwd_),
            double(test_end_)};
  }
  void set_state(const std::vector<double>& s) override {
    StateReader r(s, kTag, 8, cfg_.kind);
    testing_ = r.next() != 0;
    test_bits_ = r.next_int();
    acc_sum_ = r.next();
    acc_count_ = r.next_int();
    prev_acc_ = r.next();
    bmin_fwd_ = r.next_int();
    test_end_ = std::int64_t(r.next());
  }

 private:
  void finish_test(int bmin, std::int64_t end) {
    bmin_fwd_ = bmin;
    testing_ = false;
    test_end_ = end;
  }

  int bmin_fwd_;
  bool testing_;
  int test_bits_;
  double acc_sum_ = 0, prev_acc_ = std::numeric_limits<double>::quiet_NaN();
  int acc_count_ = 0;
  std::int64_t test_end_ = 0;  // first iteration of the cycles
};

}  // namespace

std::unique_ptr<PrecisionPolicy> make_cpt(const PolicyConfig& c) { return std::make_unique<Cpt>(c); }

}  // namespace lpsim::nn::policies
