#include "nn/train.hpp"

#include <chrono>
#include <cmath>
#include <stdexcept>

#include "data/batches.hpp"
#include "data/dataset.hpp"
#include "nn/nn.hpp"

namespace lpsim::nn {

namespace {

std::optional<QuantSpec> quant(const std::string& spelling, const std::string& rounding) {
  if (spelling.empty() || spelling == "fp32") return std::nullopt;
  return parse_quant(spelling, rounding);
}

int bits_of(const std::optional<QuantSpec>& q) {
  if (!q) return 32;
  return q->format.kind == arith::Kind::Scaled ? q->format.scaled.elem->bits() : q->format.bits();
}

LayerPrecision* precision_of(Layer<float>* l) {
  if (auto* c = dynamic_cast<Conv2d<float>*>(l)) return &c->precision;
  if (auto* f = dynamic_cast<Linear<float>*>(l)) return &f->precision;
  return nullptr;
}

void set_counts(Layer<float>* l, bool on) {
  if (auto* c = dynamic_cast<Conv2d<float>*>(l)) c->stats_request.counts = on;
  if (auto* f = dynamic_cast<Linear<float>*>(l)) f->stats_request.counts = on;
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

void apply_precision(Model& m, const PrecisionConfig& p, std::uint64_t seed) {
  auto layers = m.product_layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    LayerPrecision* lp = precision_of(layers[i]);
    if (!lp) continue;
    set_counts(layers[i], p.count_events);
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
}

void step_bitops(const Layer<float>& layer, double& bitops, double& bitops_fp32) {
  const LayerStats* s = layer.stats();
  const LayerPrecision* lp = precision_of(const_cast<Layer<float>*>(&layer));
  if (!s || !lp) return;
  const int w = bits_of(lp->w), a = bits_of(lp->a), e = bits_of(lp->e);
  auto macs = [](const sim::GemmStats& g) { return double(g.m) * double(g.n) * double(g.k); };
  bitops += macs(s->fwd) * w * a + macs(s->bwd_weight) * e * a;
  bitops_fp32 += (macs(s->fwd) + macs(s->bwd_weight)) * 1024.0;
  if (s->bwd_data_calls) {  // the first layer computes no input gradient
    bitops += macs(s->bwd_data) * w * e;
    bitops_fp32 += macs(s->bwd_data) * 1024.0;
  }
}

std::vector<EpochRecord> train(const TrainConfig& c, const EpochCallback& on_epoch) {
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
  apply_precision(*model, c.precision, c.seed);
  const auto policy = make_policy(c.policy);
  auto params = model->params();
  const auto product_layers = model->product_layers();

  data::LoaderOptions lo{.batch_size = c.batch, .seed = c.seed, .shuffle = true, .drop_last = false,
                         .crop_padding = c.augment ? (tr.h >= 32 ? 4 : 2) : 0, .flip = c.augment};
  data::Loader loader(tr, lo);
  const std::int64_t per_epoch = loader.batches_per_epoch(), total = per_epoch * c.epochs;
  policy->begin(*model, {.iterations_per_epoch = per_epoch, .total_iterations = total, .epochs = c.epochs, .seed = c.seed});
  std::vector<EpochRecord> history;
  std::int64_t it = 0;
  data::Batch b;
  for (int epoch = 0; epoch < c.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    EpochRecord r;
    r.epoch = epoch + 1;
    double loss_sum = 0;
    std::int64_t correct = 0, seen = 0;
    for (loader.start_epoch(epoch); loader.next(b); ++it) {
      r.lr = learning_rate(c.schedule, it, total);
      policy->before_step(*model, it);
      const Tensor<float> logits = model->forward(batch_tensor(b), true);
      const float loss = model->loss.forward(logits, batch_labels(b));  // throws on NaN/inf: a diverged run
      model->backward(model->loss.backward());
      policy->after_backward(*model, it);
      optimizer_step(c.optimizer, params, r.lr, it);
      policy->after_step(*model, it, loss, double(model->loss.correct) / b.size);
      for (const auto* l : product_layers) step_bitops(*l, r.bitops, r.bitops_fp32);
      loss_sum += double(loss) * b.size;
      correct += model->loss.correct;
      seen += b.size;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.images_per_second = double(seen) / r.seconds;
    r.train_loss = loss_sum / double(seen);
    r.train_acc = double(correct) / double(seen);
    evaluate(*model, te, c.batch, r.test_loss, r.test_acc);
    policy->end_epoch(*model, r);
    history.push_back(r);
    if (on_epoch) on_epoch(r, *model);
  }
  return history;
}

}  // namespace lpsim::nn
