// The policies as the seeds' papers and their authors' code define them
// (issue 21): per-method defaults, DPC's high-precision regime (up to 32
// bits), DPC+CPT cycling down from the DPC bits, LDP's balanced gradients and
// the factor-aware allocation's activation usage; each on values worked by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "nn/policies/common.hpp"
#include "nn/policies/policies.hpp"
#include "nn/product.hpp"
#include "nn/train.hpp"
#include "policy_test_util.hpp"

using namespace lpsim;
using nn::PolicyConfig;
using namespace nn::testing;

namespace {

PolicyConfig cfg(const std::string& kind) {
  PolicyConfig c;
  c.kind = kind;
  return c;
}

std::vector<int> w_bits(nn::Model& m) {
  std::vector<int> b;
  for (const auto& lb : nn::layer_bits(m)) b.push_back(lb.w);
  return b;
}

}  // namespace

TEST_CASE("per-method defaults follow each method's own code") {
  const PolicyConfig cpt = nn::with_method_defaults(cfg("cpt"));
  CHECK(cpt.keep_fp32 == "last");  // the CPT code quantizes the stem conv
  CHECK(cpt.w_scale == "offset/channel");
  CHECK(cpt.a_scale == "offset/tensor");
  CHECK(cpt.e_scale == "offset/tensor");
  CHECK(cpt.a_range == "ema");
  CHECK(cpt.a_momentum == 0.9);
  const PolicyConfig pfq = nn::with_method_defaults(cfg("pfq"));
  CHECK(pfq.keep_fp32 == "last");
  CHECK(pfq.a_range == "ema");  // FracTrain evaluates with running ranges
  CHECK(pfq.a_momentum == 0.9);
  const PolicyConfig sbm = nn::with_method_defaults(cfg("sbm"));
  CHECK(sbm.keep_fp32 == "first,last");
  CHECK(sbm.w_scale == "minmax/tensor");  // integer zero point: 0 exact, as Banner et al.'s code
  CHECK(sbm.a_range == "ema");
  CHECK(sbm.a_momentum == 0.1);
  for (const char* kind : {"dpc", "dpc_adaptive", "ldp", "factor"}) {
    const PolicyConfig c = nn::with_method_defaults(cfg(kind));
    CHECK(c.keep_fp32 == "first,last");
    CHECK(c.w_scale == "minmax/channel");
    CHECK(c.a_range == "batch");
  }
  CHECK(nn::with_method_defaults(cfg("dpc_cpt")).a_range == "ema");
  // What a config sets is kept.
  PolicyConfig mine = cfg("cpt");
  mine.keep_fp32 = "first,last";
  mine.a_scale = "minmax/tensor";
  mine.a_momentum = 0.1;
  mine.a_range = "batch";
  CHECK(nn::with_method_defaults(mine).keep_fp32 == "first,last");
  CHECK(nn::with_method_defaults(mine).a_scale == "minmax/tensor");
  CHECK(nn::with_method_defaults(mine).a_momentum == 0.1);
  CHECK(nn::with_method_defaults(mine).a_range == "batch");
}

TEST_CASE("CPT quantizes the stem and keeps the classifier; its running ranges fold with momentum 0.9") {
  auto m = tiny("lenet5");
  auto p = nn::make_policy(cfg("cpt"));
  p->begin(*m, context(100));
  p->before_step(*m, 0);
  const auto b = nn::layer_bits(*m);
  CHECK(b.front().w == 3);  // Bmin at t = 0
  CHECK(b.back().w == 32);
  CHECK(b.back().a == 32);
  auto* first = nn::policies::precision_of(m->product_layers().front());
  CHECK(first->a_running_range);
  CHECK(first->a_range_momentum == 0.9f);
  CHECK(first->w->format.scaled.rule == arith::ScaleRule::Offset);

  // One fold from the zero start: 0.9 x 0 + 0.1 x (min, max - min).
  nn::RunningRange r;
  nn::Tensor<float> x({4});
  x.data = {-1.0f, 0.5f, 2.0f, 3.0f};
  CHECK_FALSE(nn::activation_range(r, *first, x, true).has_value());
  CHECK(r.state[0] == doctest::Approx(-0.1));
  CHECK(r.state[1] == doctest::Approx(0.4));
  const auto eval = nn::activation_range(r, *first, x, false);
  REQUIRE(eval.has_value());
  CHECK(eval->min == doctest::Approx(-0.1));
  CHECK(eval->max == doctest::Approx(0.3));
  // SBM's 0.1 (Banner et al.'s QuantMeasure): the new batch weighs 0.9.
  nn::LayerPrecision sbm = *first;
  sbm.a_range_momentum = 0.1f;
  nn::RunningRange r2;
  nn::activation_range(r2, sbm, x, true);
  CHECK(r2.state[0] == doctest::Approx(-0.9));
}

TEST_CASE("DPC in the paper's regime: Bmax 32 on ResNet-20's layers, worked by hand") {
  auto m = tiny("resnet20");
  PolicyConfig c = cfg("dpc");
  c.cos_bounds = false;
  c.bmin_fwd = 8;
  c.bmax_fwd = 32;
  c.bmax_bwd = 32;
  auto p = nn::make_policy(c);
  p->begin(*m, context(10));
  p->before_step(*m, 0);
  // The 20 layers set (stem and fc kept): 6 x 2304, 4608, 512 (shortcut), 5 x 9216,
  // 18432, 2048 (shortcut), 5 x 36864; median 9216, R = max(36864 / 9216, 9216 / 512) = 18.
  // B = ceil(20 - 12 log_18(N / 9216)): 512 -> 32, 2048 -> ceil(26.245) = 27,
  // 2304 -> ceil(25.755) = 26, 4608 -> ceil(22.877) = 23, 9216 -> 20,
  // 18432 -> ceil(17.123) = 18, 36864 -> ceil(14.245) = 15.
  const std::map<std::int64_t, int> by_hand = {{512, 32},  {2048, 27},  {2304, 26}, {4608, 23},
                                               {9216, 20}, {18432, 18}, {36864, 15}};
  const auto layers = m->product_layers();
  const auto bits = nn::layer_bits(*m);
  REQUIRE(layers.size() == 22);
  std::map<std::int64_t, int> seen;
  for (std::size_t k = 1; k + 1 < layers.size(); ++k) {
    const std::int64_t n = nn::policies::parameter_count(layers[k]);
    REQUIRE(by_hand.count(n) == 1);
    ++seen[n];
    CHECK(bits[k].w == by_hand.at(n));
    CHECK(bits[k].a == by_hand.at(n));
    CHECK(bits[k].e == 32);
    const nn::LayerPrecision* lp = nn::policies::precision_of(layers[k]);
    if (by_hand.at(n) == 32) {
      CHECK_FALSE(lp->w.has_value());  // 32 bits: fp32
    } else if (by_hand.at(n) > 24) {
      REQUIRE(lp->w.has_value());  // quantized at 24, counted at its own width
      CHECK(nn::policies::bits_of(lp->w) == 24);
      CHECK(lp->w_bits == by_hand.at(n));
    } else {
      CHECK(nn::policies::bits_of(lp->w) == by_hand.at(n));
      CHECK(lp->w_bits == 0);
    }
    CHECK_FALSE(lp->e.has_value());  // E at 32: fp32
  }
  CHECK(seen == std::map<std::int64_t, int>{{512, 1}, {2048, 1}, {2304, 6}, {4608, 1}, {9216, 5}, {18432, 1}, {36864, 5}});
}

TEST_CASE("the cosine rule gives Bmin = 4 on ResNet-20's initial weights (3 bits fall below 0.99)") {
  auto m = tiny("resnet20");
  const PolicyConfig c = nn::with_method_defaults(cfg("dpc"));
  const nn::policies::Formats f(c);
  const auto targets = nn::policies::targets_of(*m, c.keep_fp32);
  std::vector<const nn::Tensor<float>*> w;
  for (const auto& t : targets) w.push_back(&nn::policies::weight_of(t.layer)->value);
  CHECK(nn::policies::cosine_bmin(w, f, 8, 0.99) == 4);
  double worst3 = 1;
  for (const auto* t : w) {
    std::vector<float> q(t->data.size());
    nn::quantize_tensor(f.w(3), t->ptr(), q.data(), t->shape, 0, {});
    worst3 = std::min(worst3, nn::policies::cosine_similarity(t->data, q));
  }
  CHECK(worst3 < 0.99);
  CHECK(worst3 > 0.98);
}

TEST_CASE("DPC+CPT down: each layer cycles from half its DPC bits up to them") {
  auto m = tiny("mlp");  // DPC bits 2, 5, 7 in [2, 8] with every layer set
  PolicyConfig c = cfg("dpc_cpt");
  c.keep_fp32 = "none";
  c.cos_bounds = false;
  c.bmin_fwd = 2;
  c.cpt_cycles = 1;
  auto p = nn::make_policy(c);
  p->begin(*m, context(100));
  const auto at = [&](std::int64_t t) {
    p->before_step(*m, t);
    return w_bits(*m);
  };
  // Bottoms max(2, ceil(B / 2)) = 2, 3, 4. t = 0: the bottoms; t = T/2: rint(L + (B - L)/2)
  // = 2, 4, rint(5.5) = 6; t = T - 1 (phase 0.99): the DPC bits.
  CHECK(at(0) == std::vector<int>{2, 3, 4});
  CHECK(at(50) == std::vector<int>{2, 4, 6});
  CHECK(at(99) == std::vector<int>{2, 5, 7});
  for (std::int64_t t = 0; t < 100; ++t)
    for (int k = 0; k < 3; ++k) CHECK(at(t)[std::size_t(k)] <= std::vector<int>{2, 5, 7}[std::size_t(k)]);
  // The paper's high-precision regime: a 32-bit layer cycles 16..32.
  PolicyConfig hp = c;
  hp.dpc_cpt_mode = "down";
  CHECK(nn::policies::dpc_cpt_bits(0, 100, 32, 8, hp) == 16);
  CHECK(nn::policies::dpc_cpt_bits(50, 100, 32, 8, hp) == 24);
  CHECK(nn::policies::dpc_cpt_bits(99, 100, 32, 8, hp) == 32);
  hp.dpc_cpt_low = 0.25;
  CHECK(nn::policies::dpc_cpt_bits(0, 100, 32, 8, hp) == 8);
  PolicyConfig bad = c;
  bad.dpc_cpt_mode = "up";
  CHECK_THROWS_WITH_AS(nn::make_policy(bad), doctest::Contains("dpc_cpt_mode"), std::invalid_argument);
  bad = c;
  bad.dpc_cpt_low = 0;
  CHECK_THROWS_WITH_AS(nn::make_policy(bad), doctest::Contains("dpc_cpt_low"), std::invalid_argument);
}

TEST_CASE("LDP balancing: each gradient over its running RMS, worked by hand and on a toy") {
  double ms_t = 0, ms_c = 0;
  // First values seed the mean squares: 2 / 2 = 1; an inactive cost adds nothing.
  CHECK(nn::policies::ldp_balanced(2, 0, ms_t, ms_c, 0.9) == doctest::Approx(1.0));
  CHECK(ms_t == 4);
  CHECK(ms_c == 0);
  // ms_task = 0.9 x 4 + 0.1 x 1 = 3.7: -1 / sqrt(3.7); cost 50 seeds its own: +1.
  CHECK(nn::policies::ldp_balanced(-1, 50, ms_t, ms_c, 0.9) == doctest::Approx(1 - 1 / std::sqrt(3.7)));
  CHECK(ms_c == 2500);

  // Over the budget with no task gradient: balanced, every layer's beta falls by ldp_lr per
  // step; raw, by its MACs (fc1, 95% of them, far faster than fc3).
  auto run = [](bool balance) {
    auto m = tiny("mlp");
    PolicyConfig c = cfg("ldp");
    c.keep_fp32 = "none";
    c.ldp_target = 0.3;
    c.ldp_lr = 0.02;
    c.ldp_balance = balance;
    auto p = nn::make_policy(c);
    p->begin(*m, context(100));
    p->before_step(*m, 0);
    step(*m, 1);
    for (auto* prm : m->params()) std::fill(prm->grad.data.begin(), prm->grad.data.end(), 0.0f);
    for (int t = 0; t < 3; ++t) p->after_backward(*m, t);
    std::vector<double> beta;
    for (int d = 0; d < 3; ++d) beta.push_back(*p->layer_param(d));
    return beta;
  };
  for (double b : run(true)) CHECK(b == doctest::Approx(1 - 3 * 0.02));
  const auto raw = run(false);
  CHECK(raw[0] < raw[2]);
  CHECK(1 - raw[2] < 0.5 * (1 - raw[0]));
}

TEST_CASE("LDP records beta per layer and epoch; policies run with 25-32 bits") {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist")) return;
  nn::TrainConfig c;
  c.model.arch = "mlp";
  c.model.hidden = 64;
  c.epochs = 2;
  c.batch = 64;
  c.train_subset = 256;
  c.test_subset = 128;
  c.seed = 3;
  c.policy = cfg("ldp");
  const auto h = nn::train(c);
  REQUIRE(h.size() == 2);
  const auto& l = h.back().layers;
  CHECK(std::isnan(l.front().policy_param));  // kept layers have no beta
  CHECK(std::isnan(l.back().policy_param));
  for (std::size_t k = 1; k + 1 < l.size(); ++k) {
    CHECK(std::isfinite(l[k].policy_param));
    CHECK(l[k].policy_param <= 8.5 / 8);
  }

  // DPC at Bmax 32: BitOPs count the allocated widths, so they fall between
  // all-24-bit and fp32 and match the layers' counted bits.
  c.epochs = 1;
  c.policy = cfg("dpc");
  c.policy.cos_bounds = false;
  c.policy.bmin_fwd = 24;
  c.policy.bmax_fwd = 32;
  c.policy.bmax_bwd = 32;
  const auto hp = nn::train(c);
  REQUIRE(hp.size() == 1);
  CHECK(hp[0].bitops < hp[0].bitops_fp32);
  CHECK(std::isfinite(hp[0].train_loss));
  for (const auto& layer : hp[0].layers) {
    CHECK(layer.bits_w >= 24);
    CHECK(layer.bits_w <= 32);
  }
}

TEST_CASE("DPC's two readings of R: one base for both sides (max, the default) or one per side (sided)") {
  // Sizes 2, 16, 32, 64, 128: median 32, spreads 16 below and 4 above, Bmin 4, Bmax 8 (middle 6, half-range 2).
  const std::vector<double> sizes = {2, 16, 32, 64, 128};
  // max: R = 16. 2 -> 6 + 2 = 8; 16 -> 6 + 2/4 -> 7; 64 -> 6 - 2/4 -> 6; 128 -> 6 - 2/2 = 5.
  CHECK(nn::policies::capacity_bits(sizes, 4, 8, 1.0) == std::vector<int>{8, 7, 6, 6, 5});
  // sided: R = 16 below, 4 above. 64 -> 6 - 2/2 = 5; 128 -> 6 - 2 = 4: the largest reaches Bmin too.
  CHECK(nn::policies::capacity_bits(sizes, 4, 8, 1.0, true) == std::vector<int>{8, 7, 6, 5, 4});
  nn::PolicyConfig bad;
  bad.kind = "dpc";
  bad.dpc_spread = "both";
  CHECK_THROWS_WITH_AS(nn::make_policy(bad), doctest::Contains("dpc_spread \"both\" is not max or sided"),
                       std::invalid_argument);
}
