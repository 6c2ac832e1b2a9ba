// The precision policies (nn/policies): their formulas against values worked
// out independently here, their hooks on a model without data, short
// training runs (skipped without Fashion-MNIST), state round trips and knob errors.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <random>

#include "nn/layers/conv2d.hpp"
#include "nn/layers/linear.hpp"
#include "nn/policies/common.hpp"
#include "nn/policies/policies.hpp"
#include "nn/train.hpp"
#include "policy_test_util.hpp"

using namespace lpsim;
using nn::LayerBits;
using nn::PolicyConfig;
using namespace nn::testing;

namespace {

bool have_data() { return std::filesystem::exists("/usr/share/datasets/fashion-mnist"); }

PolicyConfig cfg(const std::string& kind) {
  PolicyConfig c;
  c.kind = kind;
  c.keep_fp32 = "none";
  return c;
}

nn::TrainConfig small_run(const PolicyConfig& p) {
  nn::TrainConfig c;
  c.model.arch = "mlp";
  c.model.hidden = 64;
  c.epochs = 1;
  c.batch = 64;
  c.train_subset = 256;
  c.test_subset = 128;
  c.schedule.lr = 0.05;
  c.seed = 7;
  c.policy = p;
  return c;
}

double total_bitops(const std::vector<nn::EpochRecord>& h) {
  double s = 0;
  for (const auto& r : h) s += r.bitops;
  return s;
}

}  // namespace

TEST_CASE("SBM: 8-bit W, A, E from the start; bifurcation gives dW its own 16-bit error") {
  PolicyConfig c;
  c.kind = "sbm";
  c.sbm_bifurcation = true;
  auto m = tiny();
  auto p = nn::make_policy(c);
  p->begin(*m, context(10));
  CHECK(nn::layer_bits(*m)[1] == LayerBits{8, 8, 8, 32, 16});  // the middle layer
  CHECK(nn::layer_bits(*m)[0] == LayerBits{});                 // first and last: untouched (fp32)
  CHECK(nn::layer_bits(*m)[2] == LayerBits{});
  CHECK(m->product_layers().size() == 3);
  const auto& lp = dynamic_cast<nn::Linear<float>*>(m->product_layers()[1])->precision;
  CHECK(lp.w->format.spelling == "int8/minmax/tensor");  // the paper's per-layer scale
  CHECK(lp.e->rounding == arith::parse_rounding("sr"));
  CHECK(lp.a->rounding == arith::parse_rounding("rne"));

  // The hook in Linear and Conv2d: with e = int4 and e_dw = int16 (round to
  // nearest), dW and the bias gradient are those of e = int16 alone, and dX
  // that of e = int4 alone.
  auto check_hook = [](auto make, nn::Shape xs, nn::Shape dys) {
    std::mt19937 gen(4);
    std::normal_distribution<float> nd;
    nn::Tensor<float> x(xs), dy(dys);
    for (auto& v : x.data) v = nd(gen);
    for (auto& v : dy.data) v = nd(gen);
    auto bif = make("int4/minmax/tensor", "int16/minmax/tensor"), e4 = make("int4/minmax/tensor", nullptr),
         e16 = make("int16/minmax/tensor", nullptr);
    std::vector<nn::Tensor<float>> dx;
    for (auto* l : {bif.get(), e4.get(), e16.get()}) {
      l->forward(x, true);
      dx.push_back(l->backward(dy));
    }
    CHECK(bif->weight.grad.data == e16->weight.grad.data);
    CHECK(bif->bias.grad.data == e16->bias.grad.data);
    CHECK(dx[0].data == dx[1].data);
    CHECK(bif->weight.grad.data != e4->weight.grad.data);  // int4 and int16 errors do differ
  };
  auto set = [](auto& l, const char* e, const char* e_dw) {
    l->reset_parameters(9);
    l->precision.e = nn::parse_quant(e, "rne");
    if (e_dw) l->precision.e_dw = nn::parse_quant(e_dw, "rne");
    return std::move(l);
  };
  check_hook(
      [&](const char* e, const char* e_dw) {
        auto l = std::make_unique<nn::Linear<float>>(6, 5);
        return set(l, e, e_dw);
      },
      {3, 6}, {3, 5});
  check_hook(
      [&](const char* e, const char* e_dw) {
        auto l = std::make_unique<nn::Conv2d<float>>(2, 3, 3, 1, 1);
        return set(l, e, e_dw);
      },
      {2, 2, 5, 5}, {2, 3, 5, 5});
}

TEST_CASE("CPT schedule follows the cosine formula, including cycle boundaries") {
  // b = bmin + (bmax - bmin) sin^2(pi x / 2), the same curve as CPT's
  // bmin + (bmax - bmin)/2 (1 - cos(pi x)) since 1 - cos 2u = 2 sin^2 u.
  auto independent = [](std::int64_t t, std::int64_t period, int lo, int hi) {
    const double x = double(t % period) / double(period), s = std::sin(std::numbers::pi * x / 2);
    return int(std::lround(lo + (hi - lo) * s * s));
  };
  for (std::int64_t t : {0, 10, 30, 60, 90, 99, 100, 130, 199}) {
    CAPTURE(t);
    CHECK(nn::policies::cyclic_bits(t, 100, 3, 8) == independent(t, 100, 3, 8));
  }
  // By hand: t = 30 -> 3 + 5 sin^2(0.15 pi) = 4.03; t = 60 -> 6.27; t = 90 -> 7.88.
  CHECK(nn::policies::cyclic_bits(30, 100, 3, 8) == 4);
  CHECK(nn::policies::cyclic_bits(60, 100, 3, 8) == 6);
  CHECK(nn::policies::cyclic_bits(90, 100, 3, 8) == 8);
  // Each period starts again at bmin; the step before a boundary is near bmax.
  CHECK(nn::policies::cyclic_bits(100, 100, 3, 8) == 3);
  CHECK(nn::policies::cyclic_bits(199, 100, 3, 8) == 8);
  CHECK(nn::policies::cyclic_bits(50, 100, 8, 8) == 8);  // a flat range stays put
  CHECK(nn::policies::cyclic_period(1000, 32) == 31.25);  // iters / cycles, not rounded down
  CHECK(nn::policies::cyclic_period(10, 32) == 1);
  // 316 iterations, 32 cycles: T = 9.875. The last iteration ends a cycle near
  // the top (with the authors' int(T) = 9 it would open a 33rd one at bmin:
  // 315 mod 9 = 0, and the final evaluation would run at 3 bits).
  const double t316 = nn::policies::cyclic_period(316, 32);
  CHECK(t316 == 9.875);
  CHECK(nn::policies::cyclic_bits(315, t316, 3, 8) == 8);  // fmod(315, 9.875) = 8.875: 3 + 5 sin^2(0.449 pi) = 7.87
  CHECK(nn::policies::cyclic_bits(9, t316, 3, 8) == 8);    // 9 / 9.875: 7.90
  CHECK(nn::policies::cyclic_bits(10, t316, 3, 8) == 3);   // 0.125 / 9.875: a new cycle
  CHECK(nn::policies::cyclic_bits(315, 9, 3, 8) == 3);     // the rounded-down period's last step

  // The policy sets W and A to b_fwd(t), E to b_bwd(t), on every layer when asked.
  auto m = tiny();
  PolicyConfig c = cfg("cpt");
  c.bmin_bwd = 6;
  c.cpt_cycles = 4;  // period 100 of 400 iterations
  auto p = nn::make_policy(c);
  p->begin(*m, context(400));
  for (std::int64_t t : {0, 30, 60, 100, 160}) {
    p->before_step(*m, t);
    const int f = independent(t, 100, 3, 8), b = independent(t, 100, 6, 8);
    for (const LayerBits& lb : nn::layer_bits(*m)) CHECK(lb == LayerBits{f, f, b, 32});
  }
}

TEST_CASE("CPT precision range test picks the first precision whose accuracy gain passes the threshold") {
  auto m = tiny();
  PolicyConfig c = cfg("cpt");
  c.cpt_range_test = true;
  c.prt_iters = 2;
  c.prt_threshold = 0.05;
  c.cpt_cycles = 1;
  auto p = nn::make_policy(c);
  p->begin(*m, context(106));
  // 2 bits: accuracy 0.10; 3 bits: 0.12 (gain 0.02); 4 bits: 0.30 (gain 0.18): Bmin = 4.
  const double acc[] = {0.10, 0.10, 0.12, 0.12, 0.30, 0.30};
  const int bits[] = {2, 2, 3, 3, 4, 4};
  for (int t = 0; t < 6; ++t) {
    p->before_step(*m, t);
    CHECK(nn::layer_bits(*m)[1].w == bits[t]);
    CHECK(nn::layer_bits(*m)[1].e == 8);
    p->after_step(*m, t, 1.0, acc[t]);
  }
  // The cycle starts at iteration 6 from the chosen Bmin, over the 100 iterations left.
  p->before_step(*m, 6);
  CHECK(nn::layer_bits(*m)[1].w == 4);
  p->before_step(*m, 6 + 50);
  CHECK(nn::layer_bits(*m)[1].w == 6);  // 4 + 4 * 0.5
  p->before_step(*m, 6 + 99);
  CHECK(nn::layer_bits(*m)[1].w == 8);
}

TEST_CASE("DPC allocation matches the formula worked by hand") {
  // median 1000, R = max(100000/1000, 1000/50) = 100, Bmin 2, Bmax 8, delta 1:
  // B = ceil(5 - 3 log_100(N / 1000)): 100 -> ceil(6.5) = 7, 1000 -> 5,
  // 10000 -> ceil(3.5) = 4, 100000 -> 2, 50 -> ceil(6.95) = 7.
  const std::vector<double> sizes = {100, 1000, 10000, 100000, 50};
  CHECK(nn::policies::capacity_bits(sizes, 2, 8, 1.0) == std::vector<int>{7, 5, 4, 2, 7});
  // delta 2 doubles the spread and clamps: 100 -> 8, 10000 -> 2, 100000 -> 2 (from -1), 50 -> 8.
  CHECK(nn::policies::capacity_bits(sizes, 2, 8, 2.0) == std::vector<int>{8, 5, 2, 2, 8});
  // All layers alike: R = 1, everyone at ceil(mid).
  CHECK(nn::policies::capacity_bits({7, 7, 7}, 3, 8, 1.0) == std::vector<int>{6, 6, 6});
  CHECK_THROWS_AS(nn::policies::capacity_bits({1, 0}, 2, 8, 1.0), std::invalid_argument);

  // The policy on LeNet-5 (all 5 layers): bits from the parameter counts, larger layers fewer.
  auto m = tiny("lenet5");
  PolicyConfig c = cfg("dpc");
  c.cos_bounds = false;
  c.bmin_fwd = 2;
  auto p = nn::make_policy(c);
  p->begin(*m, context(10));
  p->before_step(*m, 0);
  std::vector<double> counts;
  for (auto* l : m->product_layers()) counts.push_back(double(nn::policies::parameter_count(l)));
  CHECK(counts == std::vector<double>{156, 2416, 48120, 10164, 850});  // conv1, conv2, fc1, fc2, fc3
  const auto expect = nn::policies::capacity_bits(counts, 2, 8, 1.0);
  const auto got = nn::layer_bits(*m);
  for (std::size_t k = 0; k < got.size(); ++k) {
    CHECK(got[k].w == expect[k]);
    CHECK(got[k].a == expect[k]);
    CHECK(got[k].e == 8);
  }
  CHECK(got[2].w < got[1].w);  // fc1 (48120) below conv2 (2416, the median)
  CHECK(got[0].w > got[1].w);
}

TEST_CASE("adaptive DPC lowers the bits of steady gradients and raises those of noisy ones") {
  auto m = tiny();  // fc1 25120, fc2 1056, fc3 330 parameters: B = 2, 5, 7 in [2, 8]
  PolicyConfig c = cfg("dpc_adaptive");
  c.cos_bounds = false;
  c.bmin_fwd = 2;
  auto p = nn::make_policy(c);
  p->begin(*m, context(100));
  p->before_step(*m, 0);
  auto w_bits = [&] {
    std::vector<int> b;
    for (const auto& lb : nn::layer_bits(*m)) b.push_back(lb.w);
    return b;
  };
  CHECK(w_bits() == std::vector<int>{2, 5, 7});
  auto epoch = [&](auto grad_of_step) {
    for (int t = 0; t < 6; ++t) {
      for (auto* l : m->product_layers()) {
        auto& g = nn::policies::weight_of(l)->grad.data;
        std::fill(g.begin(), g.end(), float(grad_of_step(t)));
      }
      p->after_backward(*m, t);
    }
    p->end_epoch(*m, nn::EpochRecord{});
    p->before_step(*m, 0);
    return w_bits();
  };
  // Equal gradient norms every step: CV 0 < 0.15, one bit less (fc1 stays at Bmin).
  CHECK(epoch([](int) { return 1.0; }) == std::vector<int>{2, 4, 6});
  // Norms alternating 0.1 and 3: CV = 1.45 / 1.55 > 0.5, one bit more.
  CHECK(epoch([](int t) { return t % 2 ? 3.0 : 0.1; }) == std::vector<int>{3, 5, 7});
  // In between (CV 0.2): unchanged.
  CHECK(epoch([](int t) { return t % 2 ? 1.2 : 0.8; }) == std::vector<int>{3, 5, 7});
}

TEST_CASE("DPC+CPT centered: cycles each layer around its DPC bits") {
  auto m = tiny();  // DPC bits 2, 5, 7 in [2, 8]
  PolicyConfig c = cfg("dpc_cpt");
  c.cos_bounds = false;
  c.bmin_fwd = 2;
  c.cpt_cycles = 1;
  c.dpc_cpt_mode = "centered";
  c.dpc_cpt_amplitude = 2;
  auto p = nn::make_policy(c);
  p->begin(*m, context(100));
  auto w_bits = [&](std::int64_t t) {
    p->before_step(*m, t);
    std::vector<int> b;
    for (const auto& lb : nn::layer_bits(*m)) b.push_back(lb.w);
    return b;
  };
  // From B - 2 up to B + 2 over the period, clamped to [2, 8].
  CHECK(w_bits(0) == std::vector<int>{2, 3, 5});
  CHECK(w_bits(50) == std::vector<int>{2, 5, 7});
  CHECK(w_bits(99) == std::vector<int>{4, 7, 8});
}

TEST_CASE("the cosine-similarity bound is the fewest bits that keep every layer's weights") {
  // Weights on the 2-bit grid of [0, 1] (0, 1/3, 2/3, 1): exact at 2 bits.
  // (A symmetric range such as {-1, 1} is not: the zero point that makes 0
  // exact shifts the grid by half a step.)
  nn::Tensor<float> two({4, 4});
  for (std::int64_t i = 0; i < two.numel(); ++i) two[i] = float(i % 4) / 3.0f;
  PolicyConfig c = cfg("dpc");
  const nn::policies::Formats f(nn::with_method_defaults(c));
  CHECK(nn::policies::cosine_bmin({&two}, f, 8, 0.999) == 2);

  // A Gaussian weight: the bound is the first b whose cosine, computed here, passes.
  std::mt19937 gen(3);
  std::normal_distribution<float> nd;
  nn::Tensor<float> w({16, 64});
  for (auto& v : w.data) v = nd(gen);
  auto cosine = [&](int b) {
    std::vector<float> q(w.data.size());
    nn::quantize_tensor(f.w(b), w.ptr(), q.data(), w.shape, 0, {});
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = 0; i < q.size(); ++i) ab += w.data[i] * q[i], aa += w.data[i] * w.data[i], bb += q[i] * q[i];
    return ab / std::sqrt(aa * bb);
  };
  for (double threshold : {0.9, 0.99, 0.999}) {
    int expect = 8;
    for (int b = 2; b < 8; ++b)
      if (cosine(b) >= threshold) {
        expect = b;
        break;
      }
    CAPTURE(threshold);
    CHECK(nn::policies::cosine_bmin({&w}, f, 8, threshold) == expect);
  }
  CHECK(cosine(2) < 0.99);  // so that the 0.99 case is not trivially 2
  CHECK(nn::policies::cosine_bmin({&w}, f, 8, 0.99) > 2);
  CHECK(nn::policies::cosine_bmin({&two, &w}, f, 8, 0.99) == nn::policies::cosine_bmin({&w}, f, 8, 0.99));
  CHECK(nn::policies::cosine_bmin({&w}, f, 8, 0.99999999) == 8);  // never reached: Bmax
}

TEST_CASE("PFQ turns on a plateau of the loss") {
  nn::policies::PlateauDetector d(5, 0.15, 0.4);
  // Window [1.0 .. 0.83] still differs by 0.17 > 0.15; the next window by 0.07.
  const double losses[] = {2.0, 1.5, 1.2, 1.0, 0.9, 0.85, 0.84, 0.83, 0.83};
  for (int i = 0; i < 8; ++i) CHECK_FALSE(d.add(losses[i], 1.0));
  CHECK(d.add(losses[8], 1.0));
  CHECK(d.threshold() == doctest::Approx(0.06));
  CHECK(d.losses().empty());
  for (int i = 0; i < 4; ++i) CHECK_FALSE(d.add(0.83, 1.0));  // the window refills first
  CHECK(d.add(0.83, 1.0));

  // The policy: stage 0 (3/6 bits) until the epoch losses plateau, then 4/6, then 6/8.
  auto m = tiny();
  auto p = nn::make_policy(cfg("pfq"));
  p->begin(*m, context(100));
  auto bits_after = [&](double loss) {
    nn::EpochRecord r;
    r.train_loss = loss;
    p->end_epoch(*m, r);
    p->before_step(*m, 0);
    return nn::layer_bits(*m)[0];
  };
  p->before_step(*m, 0);
  CHECK(nn::layer_bits(*m)[0] == LayerBits{3, 3, 6, 32});
  // Epoch 7 completes a window of five equal losses (earlier windows differ
  // by >= 0.5 / scale > 0.15); the second turning point needs five more (epoch 12).
  const double seq[] = {2.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
  for (int e = 1; e <= 12; ++e) {
    const LayerBits b = bits_after(seq[e - 1]);
    CAPTURE(e);
    CHECK(b.w == (e < 7 ? 3 : e < 12 ? 4 : 6));
    CHECK(b.e == (e < 12 ? 6 : 8));
  }
}

TEST_CASE("PFQ with pfq_interval: intervals of iterations, resumable mid-interval") {
  // Two steps per interval; their means are the epoch test's 2, 1, 0.5 x 5, so
  // the turning point comes with interval 7, i.e. after step 14.
  auto m = tiny();
  PolicyConfig c = cfg("pfq");
  c.pfq_interval = 2;
  auto p = nn::make_policy(c);
  p->begin(*m, context(100));
  const double steps[] = {2.5, 1.5, 1.25, 0.75, 0.625, 0.375, 0.5, 0.5, 0.75, 0.25, 0.5, 0.5, 0.25, 0.75};
  for (int i = 0; i < 14; ++i) {
    CAPTURE(i);
    p->before_step(*m, i);
    CHECK(nn::layer_bits(*m)[0].w == 3);
    p->after_step(*m, i, steps[i], 0);
    if (i == 8) {  // mid-interval: a checkpoint's state carries the half-finished interval
      auto resumed = nn::make_policy(c);
      resumed->begin(*m, context(100));
      resumed->set_state(p->state());
      p = std::move(resumed);
    }
    nn::EpochRecord r;
    r.train_loss = 100;  // epochs do not count as intervals here
    if (i % 5 == 4) p->end_epoch(*m, r);
  }
  p->before_step(*m, 14);
  CHECK(nn::layer_bits(*m)[0] == LayerBits{4, 4, 6, 32});
}

TEST_CASE("LDP: the task-gradient estimator and beta under the cost loss") {
  // By hand: -8 ln2 (4/3) * (1 * (0.25 - 0.3)) = 0.36968.
  const float g[] = {1}, w[] = {0.3f}, q[] = {0.25f};
  CHECK(nn::policies::ldp_task_gradient(g, w, q, 2, 8) == doctest::Approx(8 * std::numbers::ln2 * 4 / 3 * 0.05).epsilon(1e-6));
  // A loss growing with the quantization error (dL/dQ = Q - W): more bits help, the gradient is negative.
  const float w2[] = {0.3f, -0.7f, 0.1f}, q2[] = {0.25f, -0.75f, 0.125f};
  float g2[3];
  for (int i = 0; i < 3; ++i) g2[i] = q2[i] - w2[i];
  CHECK(nn::policies::ldp_task_gradient(g2, w2, q2, 4, 8) < 0);

  // Above the BitOPs threshold, beta (and then the bits) go down.
  auto m = tiny();
  PolicyConfig c = cfg("ldp");
  c.ldp_target = 0.3;
  c.ldp_lr = 0.02;
  c.ldp_balance = false;  // the raw gradients (balancing: test_policy_claims.cpp)
  auto p = nn::make_policy(c);
  p->begin(*m, context(100));
  std::vector<double> before = p->state();
  for (int t = 0; t < 6; ++t) {
    p->before_step(*m, t);
    step(*m, unsigned(t));
    p->after_backward(*m, t);
    zero_grads(*m);
  }
  const std::vector<double> after = p->state();
  REQUIRE(after.size() == before.size());
  for (std::size_t k = 1; k < after.size(); k += 3) CHECK(after[k] < before[k]);  // beta, then two mean squares
  p->before_step(*m, 6);
  // The cost gradient is proportional to a layer's MACs: fc1 (95% of them) falls first.
  CHECK(nn::layer_bits(*m)[0].w < 8);
  CHECK(nn::layer_bits(*m)[0].a == nn::layer_bits(*m)[0].w);

  // Without the cost (lambda 0, or below the threshold) the task term alone moves beta only slightly.
  c.ldp_lambda = 0;
  auto p0 = nn::make_policy(c);
  p0->begin(*m, context(100));
  p0->before_step(*m, 0);
  step(*m, 11);
  p0->after_backward(*m, 0);
  zero_grads(*m);
  for (std::size_t k = 1; k < p0->state().size(); k += 3) CHECK(std::fabs(p0->state()[k] - 1.0) < 0.05);
}

TEST_CASE("factor-aware allocation: longer accumulation and less reuse get fewer bits") {
  // F = K / U = {1, 10, 100}: median 10, R = 10, Bmin 2, Bmax 8: ceil(5 + 3) = 8, 5, ceil(5 - 3) = 2.
  CHECK(nn::policies::factor_bits({100, 1000, 10000}, {100, 100, 100}, 2, 8, 1.0) == std::vector<int>{8, 5, 2});
  CHECK(nn::policies::factor_bits({100, 100, 100}, {100, 10, 1}, 2, 8, 1.0) == std::vector<int>{8, 5, 2});
  CHECK_THROWS_AS(nn::policies::factor_bits({1}, {0}, 2, 8, 1.0), std::invalid_argument);

  // On LeNet-5: iteration 0 at Bmax, then K/U from the products of the first step.
  auto m = tiny("lenet5");
  PolicyConfig c = cfg("factor");
  c.cos_bounds = false;
  c.bmin_fwd = 2;
  auto p = nn::make_policy(c);
  p->begin(*m, context(10));
  p->before_step(*m, 0);
  for (const auto& b : nn::layer_bits(*m)) CHECK(b.w == 8);
  step(*m, 1);
  p->after_backward(*m, 0);
  p->before_step(*m, 1);
  // K: 25, 150, 400, 120, 84; U: 8*28*28, 8*10*10, 8, 8, 8.
  const auto expect = nn::policies::factor_bits({25, 150, 400, 120, 84}, {8 * 784, 800, 8, 8, 8}, 2, 8, 1.0);
  const auto got = nn::layer_bits(*m);
  for (std::size_t k = 0; k < got.size(); ++k) CHECK(got[k].w == expect[k]);
  // A: by the outputs reading each activation, 6 filters of 5x5 over conv1's
  // input (padding 2 keeps 28x28: 150 reads inside), 16 of 5x5 over conv2's
  // 14x14 (10x10 outputs: 16 * 25 * 100/196), then out_features.
  std::vector<double> ua;
  for (auto* l : m->product_layers()) ua.push_back(l->stats()->fwd.usage_b);
  CHECK(ua[2] == 120);
  CHECK(ua[3] == 84);
  CHECK(ua[4] == 10);
  const auto expect_a = nn::policies::factor_bits({25, 150, 400, 120, 84}, ua, 2, 8, 1.0);
  for (std::size_t k = 0; k < got.size(); ++k) CHECK(got[k].a == expect_a[k]);
  bool differs = false;  // the two operands' reuse differ, and so do their bits somewhere
  for (const auto& b : got) differs = differs || b.a != b.w;
  CHECK(differs);
  CHECK(got[0].w > got[2].w);  // conv1: short sums, much reuse; fc1: long sums, little reuse
}

TEST_CASE("state() and set_state() round-trip every policy") {
  for (const std::string kind : {"sbm", "cpt", "pfq", "dpc", "dpc_adaptive", "dpc_cpt", "ldp", "factor"}) {
    CAPTURE(kind);
    PolicyConfig c = cfg(kind);
    c.cpt_range_test = kind == "cpt";
    c.prt_iters = 2;
    c.adpc_stable_cv = 0.5, c.adpc_noisy_cv = 0.6;
    auto m = tiny();
    auto p = nn::make_policy(c);
    p->begin(*m, context(20));
    for (int t = 0; t < 3; ++t) {
      p->before_step(*m, t);
      step(*m, unsigned(t));
      p->after_backward(*m, t);
      zero_grads(*m);
      p->after_step(*m, t, 1.0, 0.1 * t);
    }
    nn::EpochRecord r;
    r.train_loss = 1.5;
    p->end_epoch(*m, r);
    const auto saved = p->state();
    p->before_step(*m, 3);
    const auto bits = nn::layer_bits(*m);

    auto m2 = tiny();
    auto q = nn::make_policy(c);
    q->begin(*m2, context(20));
    q->set_state(saved);
    CHECK(q->state() == saved);
    q->before_step(*m2, 3);
    CHECK(nn::layer_bits(*m2) == bits);

    if (kind != "sbm") {  // SBM is static: it has no state
      CHECK_THROWS_WITH_AS(q->set_state({}), doctest::Contains(("policy " + kind).c_str()), std::invalid_argument);
      auto bad = saved;
      bad.push_back(0);
      CHECK_THROWS_WITH_AS(q->set_state(bad), doctest::Contains("expected"), std::invalid_argument);
    }
  }
}

TEST_CASE("bad knob values are clear errors naming the knob") {
  auto expect_error = [](PolicyConfig c, const std::string& what) {
    CAPTURE(what);
    CHECK_THROWS_WITH_AS(nn::make_policy(c), doctest::Contains(what.c_str()), std::invalid_argument);
  };
  PolicyConfig c;
  c.kind = "cpt-v2";
  expect_error(c, "unknown precision policy \"cpt-v2\"");
  c = cfg("cpt");
  c.bmin_fwd = 9;
  expect_error(c, "bmin_fwd > bmax_fwd");
  c = cfg("cpt");
  c.bmax_fwd = 40;
  expect_error(c, "bmax_fwd = 40");
  c = cfg("cpt");
  c.cpt_cycles = 0;
  expect_error(c, "cpt_cycles");
  c = cfg("cpt");
  c.w_scale = "minmax/row";
  expect_error(c, "w_scale");
  c = cfg("cpt");
  c.e_rounding = "up-ish";
  expect_error(c, "e_scale/e_rounding");
  c = cfg("pfq");
  c.pfq_bits_bwd = {8};
  expect_error(c, "same length");
  c = cfg("pfq");
  c.pfq_bits_fwd = {3, 1, 6, 8};
  expect_error(c, "pfq_bits_fwd[1]");
  c = cfg("pfq");
  c.pfq_decay = 0;
  expect_error(c, "pfq_decay");
  c = cfg("dpc");
  c.delta = -1;
  expect_error(c, "delta");
  c = cfg("dpc");
  c.cos_threshold = 1.5;
  expect_error(c, "cos_threshold");
  c = cfg("factor");  // the capacity rule's knobs, shared with DPC
  c.delta = 0;
  expect_error(c, "policy factor: delta");
  c = cfg("factor");
  c.cos_bounds = false;  // else bmin_fwd is not used
  c.bmin_fwd = 9;
  expect_error(c, "policy factor: bmin_fwd > bmax_fwd");
  c = cfg("dpc_adaptive");
  c.adpc_stable_cv = 0.9;
  expect_error(c, "adpc_stable_cv");
  c = cfg("ldp");
  c.ldp_target = 0;
  expect_error(c, "ldp_target");
  c = cfg("sbm");
  c.sbm_bits = 1;
  expect_error(c, "sbm_bits = 1");
  c = cfg("sbm");
  c.sbm_bifurcation = true;
  c.sbm_dw_bits = 33;
  expect_error(c, "sbm_dw_bits");
  c = cfg("cpt");
  c.keep_fp32 = "stem";
  expect_error(c, "policy cpt: keep_fp32 \"stem\"");
  c = cfg("sbm");
  c.a_momentum = 1;
  expect_error(c, "a_momentum");
  c = cfg("ldp");
  c.ldp_balance_momentum = 1;
  expect_error(c, "ldp_balance_momentum");
}

TEST_CASE("every policy trains a tiny model, and its BitOPs move as its bits do") {
  if (!have_data()) {
    MESSAGE("Fashion-MNIST not installed: skipped");
    return;
  }
  // Static int8 in the middle layer: the reference for the counts.
  nn::TrainConfig s = small_run(PolicyConfig{});
  s.precision.w = "int8/minmax/channel";
  s.precision.a = s.precision.e = "int8/minmax/tensor";
  const auto reference = nn::train(s);
  const double static8 = total_bitops(reference);
  REQUIRE(static8 < reference.back().bitops_fp32);

  auto run = [](PolicyConfig p) {
    p.keep_fp32 = "first,last";
    const auto h = nn::train(small_run(p));
    REQUIRE(h.size() == 1);
    for (const auto& r : h) CHECK(std::isfinite(r.train_loss));
    return h;
  };
  PolicyConfig p;
  p.kind = "sbm";
  const auto sbm = run(p);
  CHECK(total_bitops(sbm) == static8);  // 8-bit W, A, E: the same counts
  p.sbm_bifurcation = true;
  const auto bif = run(p);
  CHECK(bif.back().train_loss != sbm.back().train_loss);  // the 16-bit dW error is used
  CHECK(total_bitops(bif) > static8);                     // and its product counted at 16 x 8 bits

  p = PolicyConfig{};
  p.kind = "cpt";
  p.cpt_cycles = 2;
  CHECK(total_bitops(run(p)) < static8);  // W, A in [3, 8], E 8
  p.kind = "pfq";
  CHECK(total_bitops(run(p)) < static8);  // 3-bit W, A and 6-bit E first
  // One middle layer (fc2) is set: DPC and factor give it the middle of
  // [4, 8] (R = 1), i.e. W and A at 6 bits, E at 8 — a static int6/int6/int8 run.
  s.precision.w = "int6/minmax/channel";
  s.precision.a = "int6/minmax/tensor";
  const double static6 = total_bitops(nn::train(s));
  REQUIRE(static6 < static8);
  auto layerwise = [&](const std::string& kind) {
    PolicyConfig q;
    q.kind = kind;
    q.cos_bounds = false;
    q.bmin_fwd = 4;
    q.ldp_target = 0.3;
    return total_bitops(run(q));
  };
  CHECK(layerwise("dpc") == static6);
  CHECK(layerwise("dpc_adaptive") == static6);  // adapts at the epoch's end, after this one-epoch run
  CHECK(layerwise("dpc_cpt") < static8);        // cycles over [4, 8] around 6
  const double factor = layerwise("factor");  // iteration 0 at 8 bits, then 6
  CHECK(factor > static6);
  CHECK(factor < static8);
  CHECK(layerwise("ldp") < static8);  // beta learned down from 8 bits
}
