// PFQ, progressive fractional quantization (FracTrain, Fu et al., NeurIPS
// 2020, and the authors' train_pfq.py): W and A at pfq_bits_fwd[s], E at
// pfq_bits_bwd[s], where the stage s starts at 0 and advances at each turning
// point of the training loss:
//  - the loss of an evaluation interval is the epoch's mean training loss
//    (the authors evaluate every eval_every iterations, about one epoch);
//  - the loss scale is the running mean of the first pfq_scale_epochs such
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
      : LayerwisePolicy(c, "minmax/channel"), detector_(c.pfq_window, c.pfq_threshold, c.pfq_decay) {
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
    require(c.pfq_scale_epochs >= 1, c.kind, "pfq_scale_epochs must be at least 1");
  }

  void before_step(Model&, std::int64_t) override {
    const int f = cfg_.pfq_bits_fwd[std::size_t(stage_)], b = cfg_.pfq_bits_bwd[std::size_t(stage_)];
    for (auto& bits : bits_) bits = {f, f, b, 32};
    apply();
  }

  void end_epoch(Model&, const EpochRecord& r) override {
    ++epochs_;
    if (epochs_ <= cfg_.pfq_scale_epochs) scale_sum_ += r.train_loss;
    const double scale = scale_sum_ / std::min(epochs_, cfg_.pfq_scale_epochs);
    if (stage_ + 1 < int(cfg_.pfq_bits_fwd.size()) && detector_.add(r.train_loss, scale)) ++stage_;
  }

  std::vector<double> state() const override {
    std::vector<double> s = {kTag, double(stage_), double(epochs_), scale_sum_, detector_.threshold(),
                             double(detector_.losses().size())};
    s.insert(s.end(), detector_.losses().begin(), detector_.losses().end());
    return s;
  }
  void set_state(const std::vector<double>& s) override {
    const std::size_t n = s.size() >= 6 ? std::size_t(s[5]) : 0;
    StateReader r(s, kTag, 6 + n, cfg_.kind);
    stage_ = r.next_int();
    require(stage_ >= 0 && stage_ < int(cfg_.pfq_bits_fwd.size()), cfg_.kind, "set_state: stage out of range");
    epochs_ = r.next_int();
    scale_sum_ = r.next();
    const double threshold = r.next();
    r.next();
    std::deque<double> losses;
    for (std::size_t i = 0; i < n; ++i) losses.push_back(r.next());
    detector_.restore(threshold, std::move(losses));
  }

 private:
  PlateauDetector detector_;
  int stage_ = 0, epochs_ = 0;
  double scale_sum_ = 0;
};

}  // namespace

std::unique_ptr<PrecisionPolicy> make_pfq(const PolicyConfig& c) { return std::make_unique<Pfq>(c); }

}  // namespace lpsim::nn::policies
