#include "nn/policies/common.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "nn/layers/conv2d.hpp"
#include "nn/layers/linear.hpp"

namespace lpsim::nn::policies {

void require(bool ok, const std::string& kind, const std::string& what) {
  if (!ok) throw std::invalid_argument("policy " + kind + ": " + what);
}

void require_bits(int bits, const std::string& kind, const std::string& knob, int lo, int hi) {
  require(bits >= lo && bits <= hi, kind,
          knob + " = " + std::to_string(bits) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

LayerPrecision* precision_of(Layer<float>* l) {
  if (auto* c = dynamic_cast<Conv2d<float>*>(l)) return &c->precision;
  if (auto* f = dynamic_cast<Linear<float>*>(l)) return &f->precision;
  return nullptr;
}

Param<float>* weight_of(Layer<float>* l) {
  if (auto* c = dynamic_cast<Conv2d<float>*>(l)) return &c->weight;
  if (auto* f = dynamic_cast<Linear<float>*>(l)) return &f->weight;
  return nullptr;
}

int bits_of(const std::optional<QuantSpec>& q) {
  if (!q) return 32;
  return q->format.kind == arith::Kind::Scaled ? q->format.scaled.elem->bits() : q->format.bits();
}

LayerBits counted_bits(const LayerPrecision& p) {
  return {p.w_bits ? p.w_bits : bits_of(p.w), p.a_bits ? p.a_bits : bits_of(p.a), p.e_bits ? p.e_bits : bits_of(p.e),
          bits_of(p.g), p.e_dw ? bits_of(p.e_dw) : 0};
}

std::int64_t parameter_count(Layer<float>* l) {
  std::int64_t n = 0;
  for (auto* p : l->params()) n += p->value.numel();
  return n;
}

std::pair<bool, bool> parse_keep(const std::string& keep) {
  if (keep == "first,last" || keep == "last,first") return {true, true};
  if (keep == "first") return {true, false};
  if (keep == "last") return {false, true};
  if (keep == "none") return {false, false};
  throw std::invalid_argument("keep_fp32 \"" + keep + "\" is not first,last / last / first / none");
}

std::vector<Target> targets_of(Model& m, const std::string& keep) {
  const auto [first, last] = parse_keep(keep);
  const auto layers = m.product_layers();
  std::vector<Target> out;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if ((first && i == 0) || (last && i + 1 == layers.size())) continue;
    if (LayerPrecision* p = precision_of(layers[i])) out.push_back({layers[i], p, int(i)});
  }
  return out;
}

Formats::Formats(const PolicyConfig& c)
    : w_scale_(c.w_scale),
      a_scale_(c.a_scale),
      e_scale_(c.e_scale),
      w_round_(c.w_rounding),
      a_round_(c.a_rounding),
      e_round_(c.e_rounding) {
  // Parse once at 8 bits so that a bad spelling fails here, naming its knob.
  const std::pair<const char*, const QuantSpec& (Formats::*)(int) const> roles[] = {
      {"w_scale/w_rounding", &Formats::w}, {"a_scale/a_rounding", &Formats::a}, {"e_scale/e_rounding", &Formats::e}};
  for (const auto& [knobs, get_spec] : roles) {
    try {
      (this->*get_spec)(8);
    } catch (const std::invalid_argument& err) {
      throw std::invalid_argument("policy " + c.kind + ": " + knobs + ": " + err.what());
    }
  }
}

const QuantSpec& Formats::get(std::map<int, QuantSpec>& cache, const std::string& scale,
                              const std::string& rounding, int bits) const {
  bits = std::min(bits, 24);
  auto it = cache.find(bits);
  if (it == cache.end()) it = cache.emplace(bits, parse_quant("int" + std::to_string(bits) + "/" + scale, rounding)).first;
  return it->second;
}

void Formats::set(LayerPrecision& p, int w_bits, int a_bits, int e_bits) const {
  const auto one = [](std::optional<QuantSpec>& q, int& counted, int bits, const QuantSpec& spec) {
    q = bits >= 32 ? std::nullopt : std::optional<QuantSpec>(spec);
    counted = bits > 24 && bits < 32 ? bits : 0;
  };
  one(p.w, p.w_bits, w_bits, w(w_bits));
  one(p.a, p.a_bits, a_bits, a(a_bits));
  one(p.e, p.e_bits, e_bits, e(e_bits));
}

int cyclic_bits(std::int64_t t, double period, int bmin, int bmax) {
  // Spelled as the authors' 1 + cos(pi x + pi), so that ties round alike.
  const double phase = std::fmod(double(t), period) / period;
  return int(std::nearbyint(bmin + 0.5 * (bmax - bmin) * (1 + std::cos(std::numbers::pi * phase + std::numbers::pi))));
}

double cyclic_period(std::int64_t total, int cycles) { return std::max(1.0, double(total) / double(cycles)); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<int> capacity_bits(const std::vector<double>& sizes, int bmin, int bmax, double delta, bool sided) {
  std::vector<int> bits(sizes.size(), bmax);
  if (sizes.empty()) return bits;
  for (double s : sizes)
    if (!(s > 0)) throw std::invalid_argument("capacity_bits: layer sizes must be positive");
  const double med = median(sizes);
  const auto [mn, mx] = std::minmax_element(sizes.begin(), sizes.end());
  const double r = std::max(*mx / med, med / *mn);
  const double mid = 0.5 * (bmax + bmin);
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const double rk = !sided ? r : sizes[k] > med ? *mx / med : med / *mn;  // sizes[k] == med: spread 0 either way
    const double spread = rk > 1 ? std::log(sizes[k] / med) / std::log(rk) : 0.0;
    const double b = std::ceil(mid - 0.5 * delta * (bmax - bmin) * spread - 1e-9);  // -1e-9: log round-off at integers
    bits[k] = std::clamp(int(b), bmin, bmax);
  }
  return bits;
}

double cosine_similarity(std::span<const float> a, std::span<const float> b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  if (aa == 0 && bb == 0) return 1;  // both zero: identical
  if (aa == 0 || bb == 0) return 0;
  return ab / std::sqrt(aa * bb);
}

int cosine_bmin(const std::vector<const Tensor<float>*>& weights, const Formats& formats, int bmax,
                double threshold) {
  for (int b = 2; b < bmax; ++b) {
    bool all = true;
    for (const Tensor<float>* w : weights) {
      std::vector<float> q(w->data.size());
      quantize_tensor(formats.w(b), w->ptr(), q.data(), w->shape, 0, {});
      if (cosine_similarity(w->data, q) < threshold) {
        all = false;
        break;
      }
    }
    if (all) return b;
  }
  return bmax;
}

void require_capacity_knobs(const PolicyConfig& c) {
  require_bits(c.bmax_fwd, c.kind, "bmax_fwd");
  require_bits(c.bmax_bwd, c.kind, "bmax_bwd");
  if (!c.cos_bounds) {
    require_bits(c.bmin_fwd, c.kind, "bmin_fwd");
    require(c.bmin_fwd <= c.bmax_fwd, c.kind, "bmin_fwd > bmax_fwd");
  } else {
    require(c.cos_threshold > 0 && c.cos_threshold < 1, c.kind, "cos_threshold must be in (0, 1)");
  }
  require(c.delta > 0 && std::isfinite(c.delta), c.kind, "delta must be positive");
}

int capacity_bmin(const std::vector<Target>& targets, const Formats& formats, const PolicyConfig& c) {
  if (!c.cos_bounds) return c.bmin_fwd;
  std::vector<const Tensor<float>*> weights;
  for (const Target& t : targets) weights.push_back(&weight_of(t.layer)->value);
  return cosine_bmin(weights, formats, c.bmax_fwd, c.cos_threshold);
}

namespace {
bool per_tensor(const std::string& scale) {
  return scale.size() >= 7 && scale.compare(scale.size() - 7, 7, "/tensor") == 0;
}
}  // namespace

}  // namespace lpsim::nn::policies

namespace lpsim::nn {

PolicyConfig with_method_defaults(PolicyConfig c) {
  // The CPT and FracTrain code (quantize.py): the stem conv quantized, the fc
  // kept; calculate_qparams offsets by min; QuantMeasure momentum 0.9.
  const bool cpt_code = c.kind == "cpt" || c.kind == "pfq";
  if (c.keep_fp32.empty()) c.keep_fp32 = cpt_code ? "last" : "first,last";
  if (c.w_scale.empty()) c.w_scale = cpt_code ? "offset/channel" : c.kind == "sbm" ? "minmax/tensor" : "minmax/channel";
  if (c.a_scale.empty()) c.a_scale = cpt_code ? "offset/tensor" : "minmax/tensor";
  if (c.e_scale.empty()) c.e_scale = cpt_code ? "offset/tensor" : "minmax/tensor";
  const bool measures = c.kind == "sbm" || cpt_code || c.kind == "dpc_cpt";  // their code's QuantMeasure
  if (c.a_range.empty()) c.a_range = measures && policies::per_tensor(c.a_scale) ? "ema" : "batch";
  if (c.a_momentum < 0) c.a_momentum = c.kind == "sbm" ? 0.1 : 0.9;
  return c;
}

}  // namespace lpsim::nn

namespace lpsim::nn::policies {

LayerwisePolicy::LayerwisePolicy(const PolicyConfig& c) : cfg_(with_method_defaults(c)), formats_(cfg_) {
  require(cfg_.a_range == "batch" || cfg_.a_range == "ema", c.kind, "a_range \"" + c.a_range + "\" is not batch or ema");
  require(cfg_.a_range != "ema" || per_tensor(cfg_.a_scale), c.kind,
          "a_range = ema needs per-tensor activation scales, not \"" + cfg_.a_scale + "\"");
  require(cfg_.a_momentum >= 0 && cfg_.a_momentum < 1, c.kind, "a_momentum must be in [0, 1)");
  try {
    parse_keep(cfg_.keep_fp32);
  } catch (const std::invalid_argument& e) {
    require(false, c.kind, e.what());
  }
}

void LayerwisePolicy::begin(Model& m, const PolicyContext& ctx) {
  ctx_ = ctx;
  targets_ = targets_of(m, cfg_.keep_fp32);
  for (const Target& t : targets_) {
    t.precision->a_running_range = cfg_.a_range == "ema";
    t.precision->a_range_momentum = float(cfg_.a_momentum);
  }
  bits_.assign(targets_.size(), LayerBits{cfg_.bmax_fwd, cfg_.bmax_fwd, cfg_.bmax_bwd, 32});
}

void LayerwisePolicy::apply() const {
  for (std::size_t i = 0; i < targets_.size(); ++i) formats_.set(*targets_[i].precision, bits_[i].w, bits_[i].a, bits_[i].e);
}

StateReader::StateReader(const std::vector<double>& s, double tag, std::size_t expected, const std::string& kind)
    : s_(s) {
  require(!s.empty() && s[0] == tag, kind, "set_state: the state is not one of this policy");
  require(s.size() == expected, kind,
          "set_state: expected " + std::to_string(expected) + " values, got " + std::to_string(s.size()) +
              " (a different model or knobs?)");
}

}  // namespace lpsim::nn::policies
