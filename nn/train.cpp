#include "nn/train.hpp"

#include <fnmatch.h>

#include <chrono>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "data/batches.hpp"
#include "data/dataset.hpp"
#include "nn/checkpoint.hpp"
#include "nn/nn.hpp"
#include "nn/policies/common.hpp"
#include "nn/product.hpp"

namespace lpsim::nn {

namespace {

std::optional<QuantSpec> quant(const std::string& spelling, const std::string& rounding) {
  if (spelling.empty() || spelling == "fp32") return std::nullopt;
  return parse_quant(spelling, rounding);
}

std::optional<QuantSpec> master_spec(const PrecisionConfig& p) {
  if (p.master.empty() || p.master == "fp32") return std::nullopt;
  try {
    return parse_master(p.master, p.master_round);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("precision.master: ") + e.what());
  }
}

using policies::precision_of;

sim::StatsRequest* request_of(Layer<float>* l) {
  if (auto* c = dynamic_cast<Conv2d<float>*>(l)) return &c->stats_request;
  if (auto* f = dynamic_cast<Linear<float>*>(l)) return &f->stats_request;
  return nullptr;
}

void apply_override(LayerPrecision& lp, const LayerOverride& o, const PrecisionConfig& p) {
  // A format without its rounding takes the global rounding of that tensor;
  // a rounding alone changes the rounding of the layer's current format (and
  // leaves an unquantized tensor unquantized).
  auto set = [](std::optional<QuantSpec>& q, const std::optional<std::string>& f, const std::optional<std::string>& r,
                const std::string& global_r) {
    if (f) q = quant(*f, r ? *r : global_r);
    else if (r && q) q->rounding = arith::parse_rounding(*r);
  };
  set(lp.w, o.w, o.w_round, p.w_round);
  set(lp.a, o.a, o.a_round, p.a_round);
  set(lp.e, o.e, o.e_round, p.e_round);
  set(lp.g, o.g, o.g_round, p.g_round);
  if (o.mac_fwd) lp.fwd = sim::parse_mac(*o.mac_fwd);
  if (o.mac_bwd_data) lp.bwd_data = sim::parse_mac(*o.mac_bwd_data);
  if (o.mac_bwd_weight) lp.bwd_weight = sim::parse_mac(*o.mac_bwd_weight);
}

// A fixed-point MAC (fixed operand formats or accumulator) works on integers
// of its grid, but a scaled quantizer's values are scale x element: rounding
// them to that grid would silently destroy them. Scaled formats reach the MAC
// as those values (the scale applied first, "fake quantization"), so they
// need a floating-point MAC; say so instead of training on garbage.
void check_operands(const Layer<float>& l, const LayerPrecision& lp) {
  struct Use {
    const char* product;
    const sim::MacConfig& mac;
    bool left;
    const std::optional<QuantSpec>& q;
    const char* tensor;
  };
  const Use uses[] = {{"mac_fwd", lp.fwd, true, lp.w, "W"},
                      {"mac_fwd", lp.fwd, false, lp.a, "A"},
                      {"mac_bwd_data", lp.bwd_data, true, lp.w, "W"},
                      {"mac_bwd_data", lp.bwd_data, false, lp.e, "E"},
                      {"mac_bwd_weight", lp.bwd_weight, true, lp.e_dw ? lp.e_dw : lp.e, "E"},
                      {"mac_bwd_weight", lp.bwd_weight, false, lp.a, "A"}};
  if (forward_in_codes(lp.fwd, lp.w, lp.a)) {  // integer-code forward product (nn/product.hpp)
    if (const std::string why = code_product_problem(lp.fwd, lp.w, lp.a); !why.empty())
      throw std::invalid_argument("layer " + l.name + ": mac_fwd \"" + lp.fwd.spelling() +
                                  "\" computes in fixed point, so W and A enter it as integer codes, but " + why);
  }
  for (const Use& u : uses) {
    if (!u.q || u.q->format.kind != arith::Kind::Scaled) continue;
    if (std::string_view(u.product) == "mac_fwd" && forward_in_codes(lp.fwd, lp.w, lp.a)) continue;  // codes, above
    const auto& side = u.left ? u.mac.a : u.mac.b;
    const bool fixed_operand = side && side->format.kind == arith::Kind::Fixed;
    if (!fixed_operand && u.mac.acc.format.kind != arith::Kind::Fixed) continue;
    throw std::invalid_argument(
        "layer " + l.name + ": " + u.product + " \"" + u.mac.spelling() + "\" computes in fixed point (" +
        (fixed_operand ? "operand " + side->format.spelling : "accumulator " + u.mac.acc.format.spelling) + "), but " +
        u.tensor + " is the scaled format " + u.q->format.spelling +
        ", whose values (scale x element) are not on that grid; use a floating-point MAC such as fp32 "
        "(scaled formats enter backward MACs scale-first; only the forward product runs on integer codes)");
  }
}

// Adds one training step of a product layer into its epoch record.
void add_step(LayerEpoch& r, Layer<float>& l, bool first_step) {
  const LayerStats* s = l.stats();
  const LayerPrecision* lp = precision_of(&l);
  const LayerBits bits = policies::counted_bits(*lp);
  r.bits_w += bits.w, r.bits_a += bits.a, r.bits_e += bits.e, r.bits_g += bits.g;
  const sim::GemmStats* g[3] = {&s->fwd, &s->bwd_data, &s->bwd_weight};
  const bool computed[3] = {s->fwd_calls > 0, s->bwd_data_calls > 0, s->bwd_weight_calls > 0};
  for (int p = 0; p < 3; ++p) {
    if (!computed[p]) continue;
    if (first_step) r.k[p] = g[p]->k, r.usage_a[p] = g[p]->usage_a, r.usage_b[p] = g[p]->usage_b;
    r.counts[p] += g[p]->counts;
    if (g[p]->has_error) {
      r.has_error = true;
      r.max_rel_error[p] = std::max(r.max_rel_error[p], g[p]->max_rel_error);
      r.mean_rel_error[p] += g[p]->mean_rel_error;
      r.sqnr_db[p] += g[p]->sqnr_db;
    }
  }
}

void finish_epoch_layers(std::vector<LayerEpoch>& layers, std::int64_t steps) {
  const double n = double(std::max<std::int64_t>(steps, 1));
  for (LayerEpoch& r : layers) {
    r.bits_w /= n, r.bits_a /= n, r.bits_e /= n, r.bits_g /= n;
    for (int p = 0; p < 3; ++p) r.mean_rel_error[p] /= n, r.sqnr_db[p] /= n;
  }
}

data::Dataset load(const TrainConfig& c, data::Split split) {
  if (c.dataset == "fashion-mnist")
    return c.data_dir.empty() ? data::load_fashion_mnist(split) : data::load_fashion_mnist(split, c.data_dir);
  if (c.dataset == "cifar10") return data::load_cifar10(c.data_dir, split);
  if (c.dataset == "cifar100") return data::load_cifar100(c.data_dir, split);
  throw std::invalid_argument("unknown dataset \"" + c.dataset + "\" (fashion-mnist, cifar10, cifar100)");
}

Tensor<float> batch_tensor(const data::Batch& b) {
  Tensor<float> x({b.size, b.c, b.h, b.w});
  std::copy(b.images.begin(), b.images.begin() + x.numel(), x.data.begin());
  return x;
}

std::vector<std::int64_t> batch_labels(const data::Batch& b) {
  return std::vector<std::int64_t>(b.labels.begin(), b.labels.begin() + b.size);
}

// Mean loss and accuracy over a dataset, batch by batch, in eval mode.
void evaluate(Model& m, const data::Dataset& d, int batch, double& loss, double& acc) {
  data::Loader loader(d, {.batch_size = batch, .shuffle = false});
  data::Batch b;
  double sum = 0;
  std::int64_t correct = 0;
  for (loader.start_epoch(0); loader.next(b);) {
    const Tensor<float> logits = m.forward(batch_tensor(b), false);
    sum += double(m.loss.forward(logits, batch_labels(b))) * b.size;
    correct += m.loss.correct;
  }
  loss = sum / d.n;
  acc = double(correct) / d.n;
}

}  // namespace

void apply_precision(Model& m, const PrecisionConfig& p, std::uint64_t seed) { apply_precision(m, p, seed, {}); }

void apply_precision(Model& m, const PrecisionConfig& p, std::uint64_t seed, const std::vector<LayerOverride>& overrides) {
  auto layers = m.product_layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    LayerPrecision* lp = precision_of(layers[i]);
    if (!lp) continue;
    sim::StatsRequest* req = request_of(layers[i]);
    req->counts = p.count_events;
    req->error = p.measure_error;
    lp->key = {seed, std::uint32_t(i * 1024)};
    if (p.keep_first_last && (i == 0 || i + 1 == layers.size())) continue;
    lp->w = quant(p.w, p.w_round);
    lp->a = quant(p.a, p.a_round);
    lp->e = quant(p.e, p.e_round);
    lp->g = quant(p.g, p.g_round);
    lp->fwd = sim::parse_mac(p.mac_fwd);
    lp->bwd_data = sim::parse_mac(p.mac_bwd_data);
    lp->bwd_weight = sim::parse_mac(p.mac_bwd_weight);
  }
  for (std::size_t o = 0; o < overrides.size(); ++o) {
    bool matched = false;
    for (Layer<float>* l : layers)
      if (fnmatch(overrides[o].match.c_str(), l->name.c_str(), 0) == 0) {
        apply_override(*precision_of(l), overrides[o], p);
        matched = true;
      }
    if (!matched) {
      std::string names;
      for (Layer<float>* l : layers) names += (names.empty() ? "" : ", ") + l->name;
      const std::string where = overrides[o].origin.empty() ? "" : overrides[o].origin + ": ";
      throw std::invalid_argument(where + "layers[" + std::to_string(o) + "]: match \"" + overrides[o].match +
                                  "\" matches no layer with matrix products of " + m.name + " (" + names + ")");
    }
  }
  for (Layer<float>* l : layers)
    if (const LayerPrecision* lp = precision_of(l)) check_operands(*l, *lp);
}

void step_bitops(const Layer<float>& layer, double& bitops, double& bitops_fp32) {
  const LayerStats* s = layer.stats();
  const LayerPrecision* lp = precision_of(const_cast<Layer<float>*>(&layer));
  if (!s || !lp) return;
  const LayerBits bits = policies::counted_bits(*lp);
  const int w = bits.w, a = bits.a, e = bits.e;
  const int e_dw = bits.e_dw ? bits.e_dw : e;  // SBM's bifurcation: the weight gradient's own error width
  auto macs = [](const sim::GemmStats& g) { return double(g.m) * double(g.n) * double(g.k); };
  bitops += macs(s->fwd) * w * a + macs(s->bwd_weight) * e_dw * a;
  bitops_fp32 += (macs(s->fwd) + macs(s->bwd_weight)) * 1024.0;
  if (s->bwd_data_calls) {  // the first layer computes no input gradient
    bitops += macs(s->bwd_data) * w * e;
    bitops_fp32 += macs(s->bwd_data) * 1024.0;
  }
}

namespace {

// An absolute format (no scale) on weights whose magnitudes sit below its
// step, e.g. "int8" on weights of ~0.05: most round to 0 and the run trains
// nothing while looking valid. Checked once, on the initial weights.
void warn_zeroed_weights(const std::vector<Layer<float>*>& layers, const std::function<void(const std::string&)>& warn) {
  for (Layer<float>* l : layers) {
    const LayerPrecision* p = precision_of(l);
    if (!p || !p->w || p->w->format.kind == arith::Kind::Scaled) continue;
    const Tensor<float>& w = policies::weight_of(l)->value;
    std::vector<float> q(w.data.size());
    quantize_tensor(*p->w, w.ptr(), q.data(), w.shape, 0, {});
    std::size_t nonzero = 0, zeroed = 0;
    for (std::size_t i = 0; i < q.size(); ++i)
      if (w.data[i] != 0) ++nonzero, zeroed += q[i] == 0;
    if (nonzero > 0 && 2 * zeroed > nonzero)
      warn("layer " + l->name + ": the weights' format \"" + p->w->format.spelling + "\" (absolute, no scale) rounds " +
           std::to_string(int(100.0 * double(zeroed) / double(nonzero))) +
           "% of the nonzero initial weights to 0; a scaled format such as \"" +
           (p->w->format.kind == arith::Kind::Fixed ? "int8/absmax/channel" : p->w->format.spelling + "/absmax/channel") +
           "\" scales them first (docs/formats.md)");
  }
}

}  // namespace

void check_config(const TrainConfig& c) {
  ModelSpec spec = c.model;
  if (c.dataset == "fashion-mnist") spec.channels = 1, spec.height = spec.width = 28, spec.classes = 10;
  else if (c.dataset == "cifar10" || c.dataset == "cifar100")
    spec.channels = 3, spec.height = spec.width = 32, spec.classes = c.dataset == "cifar10" ? 10 : 100;
  else throw std::invalid_argument("unknown dataset \"" + c.dataset + "\" (fashion-mnist, cifar10, cifar100)");
  auto model = make_model(spec);
  apply_precision(*model, c.precision, c.seed, c.layers);
  make_policy(c.policy);
  master_spec(c.precision);
  learning_rate(c.schedule, c.schedule.warmup_iters, c.schedule.warmup_iters + 1);  // past warm-up: checks the kind
  std::vector<Param<float>*> none;
  optimizer_step(c.optimizer, none, 0.0, 0);  // checks the kind
}

namespace {

// Where a diverged run stands: epoch, iteration, learning rate, and the first
// parameter that is no longer finite (with lr too large, the update that
// overflowed it); if every parameter is finite, the forward pass overflowed.
std::string divergence_report(const std::string& what, const std::vector<Param<float>*>& params, int epoch,
                              std::int64_t step, std::int64_t iteration, double lr) {
  std::ostringstream m;
  m << "training diverged in epoch " << epoch << ", batch " << step << " (iteration " << iteration + 1
    << ", schedule.lr now " << lr << "): " << what << "; ";
  // The parameter of largest magnitude (a non-finite one first) points at the cause.
  const Param<float>* top = nullptr;
  double top_mag = -1;
  for (const Param<float>* p : params)
    for (const float v : p->value.data) {
      const double mag = std::isfinite(v) ? std::fabs(double(v)) : HUGE_VAL;
      if (mag > top_mag) top = p, top_mag = mag;
    }
  if (!top) m << "the model has no parameters";
  else if (top_mag == HUGE_VAL)
    m << "parameter " << top->name << " is no longer finite (try a smaller schedule.lr, or gradient formats with more range)";
  else
    m << "the largest parameter magnitude is " << top_mag << " (" << top->name
      << "): a smaller schedule.lr, or formats with more range (precision.a, precision.mac_fwd), may help";
  return m.str();
}

}  // namespace

std::vector<EpochRecord> train(const TrainConfig& c, const EpochCallback& on_epoch) {
  TrainHooks hooks;
  hooks.on_epoch = on_epoch;
  return train(c, hooks);
}

std::vector<EpochRecord> train(const TrainConfig& c, const TrainHooks& hooks) {
  if (c.epochs < 1 || c.batch < 1) throw std::invalid_argument("train: epochs and batch must be positive");
  data::Dataset tr = load(c, data::Split::Train), te = load(c, data::Split::Test);
  if (c.train_subset > 0 && c.train_subset < tr.n) tr = data::random_subset(tr, c.train_subset, c.seed);
  if (c.test_subset > 0 && c.test_subset < te.n) te = data::random_subset(te, c.test_subset, c.seed + 1);
  const data::Normalization norm = data::channel_stats(tr);
  data::normalize(tr, norm);
  data::normalize(te, norm);

  ModelSpec spec = c.model;
  spec.channels = tr.c, spec.height = tr.h, spec.width = tr.w, spec.classes = tr.num_classes;
  spec.seed = c.seed;
  auto model = make_model(spec);
  apply_precision(*model, c.precision, c.seed, c.layers);
  const auto policy = make_policy(c.policy);
  auto params = model->params();
  const auto product_layers = model->product_layers();
  const std::optional<QuantSpec> master = master_spec(c.precision);
  if (master) round_master(*master, params, c.seed, 0);  // the initial weights, stored (a resume overwrites them)

  data::LoaderOptions lo{.batch_size = c.batch, .seed = c.seed, .shuffle = true, .drop_last = false,
                         .crop_padding = c.augment ? (tr.h >= 32 ? 4 : 2) : 0, .flip = c.augment};
  data::Loader loader(tr, lo);
  const std::int64_t per_epoch = loader.batches_per_epoch(), total = per_epoch * c.epochs;
  policy->begin(*model, {.iterations_per_epoch = per_epoch, .total_iterations = total, .epochs = c.epochs, .seed = c.seed});
  std::vector<EpochRecord> history;
  std::int64_t it = 0;
  int first_epoch = 0;
  if (hooks.resume) {
    const TrainState& s = *hooks.resume;
    if (s.epochs_done < 0 || s.epochs_done > c.epochs || s.iteration != per_epoch * s.epochs_done ||
        std::int64_t(s.history.size()) != s.epochs_done)
      throw std::runtime_error("checkpoint (" + std::to_string(s.epochs_done) + " epochs, iteration " +
                               std::to_string(s.iteration) + ") does not fit this config (" + std::to_string(c.epochs) +
                               " epochs of " + std::to_string(per_epoch) + " iterations)");
    restore_state(*model, *policy, s);
    history = s.history;
    it = s.iteration;
    first_epoch = s.epochs_done;
  }
  std::vector<std::int64_t> layer_params;
  for (Layer<float>* l : product_layers) {
    std::int64_t n = 0;
    for (const Param<float>* p : l->params()) n += p->value.numel();
    layer_params.push_back(n);
  }
  data::Batch b;
  for (int epoch = first_epoch; epoch < c.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    EpochRecord r;
    r.epoch = epoch + 1;
    for (std::size_t i = 0; i < product_layers.size(); ++i) {
      LayerEpoch& le = r.layers.emplace_back();
      le.name = product_layers[i]->name;
      le.depth = product_layers[i]->depth;
      le.params = layer_params[i];
    }
    double loss_sum = 0;
    std::int64_t correct = 0, seen = 0, steps = 0;
    for (loader.start_epoch(epoch); loader.next(b); ++it, ++steps) {
      r.lr = learning_rate(c.schedule, it, total);
      policy->before_step(*model, it);
      if (hooks.on_warning && epoch == first_epoch && steps == 0) warn_zeroed_weights(product_layers, hooks.on_warning);
      const Tensor<float> logits = model->forward(batch_tensor(b), true);
      float loss = 0;
      try {
        loss = model->loss.forward(logits, batch_labels(b));  // throws on NaN/inf: a diverged run
      } catch (const std::runtime_error& e) {
        throw Diverged(divergence_report(e.what(), params, epoch + 1, steps + 1, it, r.lr));
      }
      model->backward(model->loss.backward());
      policy->after_backward(*model, it);
      optimizer_step(c.optimizer, params, r.lr, it);
      if (master) round_master(*master, params, c.seed, it + 1);
      policy->after_step(*model, it, loss, double(model->loss.correct) / b.size);
      for (std::size_t i = 0; i < product_layers.size(); ++i) {
        step_bitops(*product_layers[i], r.bitops, r.bitops_fp32);
        add_step(r.layers[i], *product_layers[i], steps == 0);
      }
      loss_sum += double(loss) * b.size;
      correct += model->loss.correct;
      seen += b.size;
      if (hooks.on_batch && hooks.on_batch(epoch + 1, steps + 1, per_epoch))
        throw Interrupted("interrupted in epoch " + std::to_string(epoch + 1) + " after batch " +
                          std::to_string(steps + 1) + " of " + std::to_string(per_epoch));
    }
    finish_epoch_layers(r.layers, steps);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.images_per_second = double(seen) / r.seconds;
    r.train_loss = loss_sum / double(seen);
    r.train_acc = double(correct) / double(seen);
    evaluate(*model, te, c.batch, r.test_loss, r.test_acc);
    policy->end_epoch(*model, r);
    for (auto& l : r.layers)
      if (const auto v = policy->layer_param(l.depth)) l.policy_param = *v;
    history.push_back(r);
    // Checkpoint before results, so a results file never shows an epoch
    // that a resumed run would not have.
    if (hooks.on_checkpoint) hooks.on_checkpoint(capture_state(*model, *policy, epoch + 1, it, history));
    if (hooks.on_epoch) hooks.on_epoch(r, *model);
  }
  if (hooks.on_end) hooks.on_end(*model);
  return history;
}

}  // namespace lpsim::nn
