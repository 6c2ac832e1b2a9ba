// PFQ, progressive fractional quantization (FracTrain, Fu et al., NeurIPS
// 2020, and the authors' train_pfq.py): W and A at pfq_bits_fwd[s], E at
// pfq_bits_bwd[s], where the stage s starts at 0 and advances at each turning
// point of the training loss:
//  - the loss of an evaluation interval is the mean training loss of its
//    iterations: pfq_interval iterations (the authors' eval_every), or one
//    epoch when pfq_interval is 0 (the default; their eval_every is about
//    one epoch, and a short run needs shorter intervals to see plateaus);
//  - the loss scale is the running mean of the first pfq_scale_intervals such
//    losses (the authors' scale_loss over their first 10 intervals);
//  - a turning point: the latest pfq_window losses are kept and every earlier
//    one is within threshold x scale of the newest (loss_diff_indicator);
//  - after a turning point the window restarts and the threshold is
//    multiplied by pfq_decay (the authors decay after the 1st and 2nd of
//    their 3 turning points; here after every one, the same for their 4 stages).
// The new stage applies from the next iteration.
#include <cmath>
#include <memory>

#include "nn/policies/common.hpp"
#include "nn/policies/policies.hpp"
#include "nn/train.hpp"

namespace lpsim::nn::policies {

bool PlateauDetector::add(double loss, double scale) {
  losses_.push_back(loss);
  if (int(losses_.size()) > window_) losses_.pop_front();
  if (int(losses_.size()) < window_) return false;
  for (std::size_t i = 0; i + 1 < losses_.size(); ++i)
    if (std::fabs(losses_[i] - losses_.back()) / scale > threshold_) return false;
  losses_.clear();
  threshold_ *= decay_;
  return true;
}

namespace {

constexpr double kTag = 3;

class Pfq : public LayerwisePolicy {
 public:
  explicit Pfq(const PolicyConfig& c)
      : LayerwisePolicy(c), detector_(c.pfq_window, c.pfq_threshold, c.pfq_decay) {
    require(!c.pfq_bits_fwd.empty() && c.pfq_bits_fwd.size() == c.pfq_bits_bwd.size(), c.kind,
            "pfq_bits_fwd and pfq_bits_bwd must be non-empty lists of the same length (got " +
                std::to_string(c.pfq_bits_fwd.size()) + " and " + std::to_string(c.pfq_bits_bwd.size()) + ")");
    for (std::size_t i = 0; i < c.pfq_bits_fwd.size(); ++i) {
      require_bits(c.pfq_bits_fwd[i], c.kind, "pfq_bits_fwd[" + std::to_string(i) + "]");
      require_bits(c.pfq_bits_bwd[i], c.kind, "pfq_bits_bwd[" + std::to_string(i) + "]");
    }
    require(c.pfq_window >= 2, c.kind, "pfq_window must be at least 2");
    require(c.pfq_threshold > 0 && std::isfinite(c.pfq_threshold), c.kind, "pfq_threshold must be positive");
    require(c.pfq_decay > 0 && c.pfq_decay <= 1, c.kind, "pfq_decay must be in (0, 1]");
    require(c.pfq_scale_intervals >= 1, c.kind, "pfq_scale_intervals must be at least 1");
    require(c.pfq_interval >= 0, c.kind, "pfq_interval must be >= 0 (0: one epoch)");
  }

  void before_step(Model&, std::int64_t) override {
    const int f = cfg_.pfq_bits_fwd[std::size_t(stage_)], b = cfg_.pfq_bits_bwd[std::size_t(stage_)];
    for (auto& bits : bits_) bits = {f, f, b, 32};
    apply();
  }

  void after_step(Model&, std::int64_t, double loss, double) override {
    if (cfg_.pfq_interval == 0) return;
    partial_sum_ += loss;
    if (++partial_count_ == cfg_.pfq_interval) {
      interval_end(partial_sum_ / partial_count_);
      partial_sum_ = 0, partial_count_ = 0;
    }
  }

  void end_epoch(Model&, const EpochRecord& r) override {
    if (cfg_.pfq_interval == 0) interval_end(r.train_loss);
  }

  std::vector<double> state() const override {
    std::vector<double> s = {kTag,  double(stage_), double(intervals_), scale_sum_, detector_.threshold(),
                             double(detector_.losses().size()), partial_sum_, double(partial_count_)};
    s.insert(s.end(), detector_.losses().begin(), detector_.losses().end());
    return s;
  }
  void set_state(const std::vector<double>& s) override {
    const std::size_t n = s.size() >= 6 ? std::size_t(s[5]) : 0;
    StateReader r(s, kTag, 8 + n, cfg_.kind);
    stage_ = r.next_int();
    require(stage_ >= 0 && stage_ < int(cfg_.pfq_bits_fwd.size()), cfg_.kind, "set_state: stage out of range");
    intervals_ = r.next_int();
    scale_sum_ = r.next();
    const double threshold = r.next();
    r.next();
    partial_sum_ = r.next();
    partial_count_ = r.next_int();
    std::deque<double> losses;
    for (std::size_t i = 0; i < n; ++i) losses.push_back(r.next());
    detector_.restore(threshold, std::move(losses));
  }

 private:
  void interval_end(double loss) {
    ++intervals_;
    if (intervals_ <= cfg_.pfq_scale_intervals) scale_sum_ += loss;
    const double scale = scale_sum_ / std::min(intervals_, cfg_.pfq_scale_intervals);
    if (stage_ + 1 < int(cfg_.pfq_bits_fwd.size()) && detector_.add(loss, scale)) ++stage_;
  }

  PlateauDetector detector_;
  int stage_ = 0, intervals_ = 0, partial_count_ = 0;
  double scale_sum_ = 0, partial_sum_ = 0;
};

}  // namespace

std::unique_ptr<PrecisionPolicy> make_pfq(const PolicyConfig& c) { return std::make_unique<Pfq>(c); }

}  // namespace lpsim::nn::policies
