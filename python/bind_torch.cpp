// nn/'s product layers for lpsim.torch (python/lpsim/torch/): the bridge runs
// nn::Linear<float> and nn::Conv2d<float> themselves, so its forward, dX and
// dW are those of lpsim's own layers bit for bit (same quantizers, MACs,
// random keys). One op object per forward call holds what its backward needs,
// so a module may run several times before one backward (shared weights).
// Arrays arrive as C-contiguous float32 (the Python side casts torch tensors
// with .numpy(), no copy); results leave without a copy (the tensor's buffer
// is handed to NumPy). The GIL is released while a layer computes.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "experiments/config_toml.hpp"
#include "experiments/run_config.hpp"
#include "nn/init.hpp"
#include "nn/layers/conv2d.hpp"
#include "nn/layers/linear.hpp"
#include "nn/model.hpp"
#include "nn/models.hpp"
#include "nn/optim.hpp"
#include "nn/policies/common.hpp"
#include "nn/policy.hpp"
#include "nn/product.hpp"
#include "nn/quantizer.hpp"
#include "nn/train.hpp"
#include "python/bindings.hpp"

namespace py = pybind11;

namespace lpsim::py {

namespace {

using F32 = ::py::array_t<float, ::py::array::c_style | ::py::array::forcecast>;
using nn::Tensor;

// A layer's LayerPrecision plus its statistics request (counts, errors).
struct Precision {
  nn::LayerPrecision p;
  bool counts = false, error = false;
};

std::optional<nn::QuantSpec> quant_of(const std::optional<std::string>& spelling, const std::string& rounding) {
  if (!spelling || spelling->empty() || *spelling == "fp32") return std::nullopt;
  return nn::parse_quant(*spelling, rounding);
}

::py::object spelling_of(const std::optional<nn::QuantSpec>& q) {
  if (!q) return ::py::none();
  return ::py::str(q->format.spelling);
}

std::string rounding_of(const std::optional<nn::QuantSpec>& q) { return q ? q->rounding.spelling() : std::string(); }

// A setter of one quantizer: a spelling (None/"fp32": none) keeping the current rounding.
void set_quant(std::optional<nn::QuantSpec>& q, const std::optional<std::string>& spelling, const char* default_round) {
  const std::string r = q ? q->rounding.spelling() : std::string(default_round);
  q = quant_of(spelling, r);
}

void set_round(std::optional<nn::QuantSpec>& q, const std::string& r) {
  const arith::Rounding parsed = arith::parse_rounding(r);
  if (q) q->rounding = parsed;
}

F32 f32(const ::py::object& o, const char* what) {
  auto a = F32::ensure(o);
  if (!a) throw ::py::type_error(std::string(what) + ": expected a float32 array");
  return a;
}

Tensor<float> to_tensor(const F32& a) {
  nn::Shape s(a.shape(), a.shape() + a.ndim());
  auto t = Tensor<float>::uninitialized(s);
  if (t.numel()) std::memcpy(t.ptr(), a.data(), std::size_t(t.numel()) * sizeof(float));
  return t;
}

void copy_param(Tensor<float>& dst, const F32& src, const std::string& layer, const char* what) {
  nn::check_shape(layer, what, nn::Shape(src.shape(), src.shape() + src.ndim()), dst.shape);
  if (dst.numel()) std::memcpy(dst.ptr(), src.data(), std::size_t(dst.numel()) * sizeof(float));
}

// The tensor's buffer becomes the array's: no copy.
::py::array to_array(Tensor<float>&& t) {
  auto* h = new Tensor<float>(std::move(t));
  ::py::capsule owner(h, [](void* p) { delete static_cast<Tensor<float>*>(p); });
  return ::py::array_t<float>(std::vector<::py::ssize_t>(h->shape.begin(), h->shape.end()), h->ptr(), owner);
}

::py::dict stats_dict(const nn::LayerStats& s) {
  ::py::dict d;
  if (s.fwd_calls) d["fwd"] = s.fwd;
  if (s.bwd_data_calls) d["bwd_data"] = s.bwd_data;
  if (s.bwd_weight_calls) d["bwd_weight"] = s.bwd_weight;
  return d;
}

// The random key of matrix i of a batched product: the layer's own for i = 0
// (a batch of one is a plain matmul), a hashed seed for the others.
arith::RandomKey batch_key(arith::RandomKey k, std::int64_t i) {
  if (i == 0) return k;
  return {nn::mix64(k.seed ^ nn::mix64(0x6c707369ull + std::uint64_t(i))), k.stream};
}

template <class L>
void configure(L& l, const Precision& pr, const std::string& name, int depth, std::uint64_t iteration,
               const std::vector<float>& a_range) {
  l.name = name;
  l.depth = depth;
  l.precision = pr.p;
  l.stats_request.counts = pr.counts;
  l.stats_request.error = pr.error;
  l.iteration = iteration;
  if (a_range.size() != 2) throw ::py::value_error(name + ": a_range must hold 2 numbers (zero point, range)");
  l.a_range.state[0] = a_range[0], l.a_range.state[1] = a_range[1];
}

// One call of a Linear or Conv2d: forward, then at most one backward.
template <class L>
class LayerOp {
 public:
  explicit LayerOp(std::unique_ptr<L> l) : l_(std::move(l)), iteration_(l_->iteration) {}

  ::py::array forward(const ::py::object& x_, const ::py::object& w_, const ::py::object& b_, bool training) {
    const F32 x = f32(x_, "x"), w = f32(w_, "weight");
    copy_param(l_->weight.value, w, l_->name, "weight");
    if (!b_.is_none()) {
      if (!l_->bias.value.numel()) throw ::py::value_error(l_->name + ": a bias given to a layer without one");
      copy_param(l_->bias.value, f32(b_, "bias"), l_->name, "bias");
    } else if (l_->bias.value.numel()) {
      throw ::py::value_error(l_->name + ": the layer has a bias, none given");
    }
    Tensor<float> y;
    {
      ::py::gil_scoped_release nogil;
      y = l_->forward(to_tensor(x), training);
    }
    done_forward_ = true;
    return to_array(std::move(y));
  }

  // (dx or None, dw, db or None); dx only when input_grad. May run again
  // (autograd's retain_graph): each run is the call's step, from zero gradients.
  ::py::tuple backward(const ::py::object& dy_, bool input_grad) {
    if (!done_forward_) throw ::py::value_error(l_->name + ": backward before forward");
    const F32 dy = f32(dy_, "grad_output");
    l_->compute_input_grad = input_grad;
    l_->iteration = iteration_;
    l_->weight.grad = Tensor<float>(l_->weight.value.shape);
    if (l_->bias.value.numel()) l_->bias.grad = Tensor<float>(l_->bias.value.shape);
    Tensor<float> dx;
    {
      ::py::gil_scoped_release nogil;
      dx = l_->backward(to_tensor(dy));
    }
    ::py::object dxo = input_grad ? ::py::object(to_array(std::move(dx))) : ::py::object(::py::none());
    ::py::object db = ::py::none();
    if (l_->bias.value.numel()) db = to_array(std::move(l_->bias.grad));
    return ::py::make_tuple(dxo, to_array(std::move(l_->weight.grad)), db);
  }

  ::py::dict stats() const { return stats_dict(*l_->stats()); }
  std::vector<float> a_range() const { return {l_->a_range.state[0], l_->a_range.state[1]}; }
  // The step's BitOPs as lpsim train counts them (after backward), and the same at 32 bits.
  std::pair<double, double> bitops() const {
    double b = 0, b32 = 0;
    nn::step_bitops(*l_, b, b32);
    return {b, b32};
  }

 private:
  std::unique_ptr<L> l_;
  std::uint64_t iteration_;  // the call's step: every backward run uses it
  bool done_forward_ = false;
};

using LinearOp = LayerOp<nn::Linear<float>>;
using Conv2dOp = LayerOp<nn::Conv2d<float>>;

// Z[i] = X[i] . Y[i] for each matrix i of a batch, as nn::Linear(X[i], W = Y[i]^T)
// with the key batch_key(layer key, i): a batch is a loop of such products.
class BmmOp {
 public:
  BmmOp(std::int64_t batch, std::int64_t k, std::int64_t n, const Precision& pr, const std::string& name, int depth,
        std::uint64_t iteration, const std::vector<float>& a_range)
      : iteration_(iteration) {
    if (batch < 1) throw ::py::value_error(name + ": batched matmul of an empty batch");
    for (std::int64_t i = 0; i < batch; ++i) {
      auto l = std::make_unique<nn::Linear<float>>(k, n, false);
      configure(*l, pr, name, depth, iteration, a_range);
      l->precision.key = batch_key(pr.p.key, i);
      ls_.push_back(std::move(l));
    }
  }

  // x (batch, m, k), wt (batch, n, k) = Y^T: returns (batch, m, n).
  ::py::array forward(const ::py::object& x_, const ::py::object& wt_, bool training) {
    const F32 x = f32(x_, "x"), wt = f32(wt_, "y^T");
    const std::int64_t b = std::int64_t(ls_.size()), k = ls_[0]->in_features, n = ls_[0]->out_features;
    const std::string& name = ls_[0]->name;
    nn::check_shape(name, "left operand", nn::Shape(x.shape(), x.shape() + x.ndim()), {b, -1, k});
    nn::check_shape(name, "right operand (transposed)", nn::Shape(wt.shape(), wt.shape() + wt.ndim()), {b, n, k});
    const std::int64_t m = x.shape(1);
    auto y = Tensor<float>::uninitialized({b, m, n});
    {
      ::py::gil_scoped_release nogil;
      for (std::int64_t i = 0; i < b; ++i) {
        nn::Linear<float>& l = *ls_[std::size_t(i)];
        std::memcpy(l.weight.value.ptr(), wt.data() + i * n * k, std::size_t(n * k) * sizeof(float));
        auto xi = Tensor<float>::uninitialized({m, k});
        std::memcpy(xi.ptr(), x.data() + i * m * k, std::size_t(m * k) * sizeof(float));
        const Tensor<float> yi = l.forward(xi, training);
        std::memcpy(y.ptr() + i * m * n, yi.ptr(), std::size_t(m * n) * sizeof(float));
      }
    }
    m_ = m;
    return to_array(std::move(y));
  }

  // (dx (batch, m, k), d(Y^T) (batch, n, k)).
  ::py::tuple backward(const ::py::object& dz_, bool input_grad) {
    if (m_ < 0) throw ::py::value_error(ls_[0]->name + ": backward before forward");
    const F32 dz = f32(dz_, "grad_output");
    const std::int64_t b = std::int64_t(ls_.size()), k = ls_[0]->in_features, n = ls_[0]->out_features, m = m_;
    nn::check_shape(ls_[0]->name, "output gradient", nn::Shape(dz.shape(), dz.shape() + dz.ndim()), {b, m, n});
    auto dx = Tensor<float>::uninitialized({b, m, k});
    auto dwt = Tensor<float>::uninitialized({b, n, k});
    {
      ::py::gil_scoped_release nogil;
      for (std::int64_t i = 0; i < b; ++i) {
        nn::Linear<float>& l = *ls_[std::size_t(i)];
        l.compute_input_grad = input_grad;
        l.iteration = iteration_;  // a rerun (retain_graph) is the same step, from zero gradients
        l.weight.grad = Tensor<float>(l.weight.value.shape);
        auto dzi = Tensor<float>::uninitialized({m, n});
        std::memcpy(dzi.ptr(), dz.data() + i * m * n, std::size_t(m * n) * sizeof(float));
        const Tensor<float> dxi = l.backward(dzi);
        if (input_grad) std::memcpy(dx.ptr() + i * m * k, dxi.ptr(), std::size_t(m * k) * sizeof(float));
        std::memcpy(dwt.ptr() + i * n * k, l.weight.grad.ptr(), std::size_t(n * k) * sizeof(float));
      }
    }
    ::py::object dxo = input_grad ? ::py::object(to_array(std::move(dx))) : ::py::object(::py::none());
    return ::py::make_tuple(dxo, to_array(std::move(dwt)));
  }

  // The first matrix's statistics (every matrix has the same shape).
  ::py::dict stats() const { return stats_dict(*ls_[0]->stats()); }
  std::pair<double, double> bitops() const {
    double b = 0, b32 = 0;
    for (const auto& l : ls_) nn::step_bitops(*l, b, b32);
    return {b, b32};
  }

 private:
  std::vector<std::unique_ptr<nn::Linear<float>>> ls_;
  std::uint64_t iteration_;
  std::int64_t m_ = -1;
};

nn::Draw draw_of(const std::string& role) {
  static const std::pair<const char*, nn::Draw> roles[] = {
      {"w", nn::Draw::W},     {"a", nn::Draw::A},           {"e", nn::Draw::E},
      {"g", nn::Draw::G},     {"fwd", nn::Draw::Fwd},       {"bwd_data", nn::Draw::BwdData},
      {"bwd_weight", nn::Draw::BwdWeight}, {"master", nn::Draw::Master}};
  for (const auto& [n, d] : roles)
    if (role == n) return d;
  throw ::py::value_error("draw_key: unknown role \"" + role + "\" (w, a, e, g, fwd, bwd_data, bwd_weight, master)");
}

// The precision of each named product layer, as lpsim train sets it: the
// config's [precision] on every layer (keys: stream = index * 1024), first and
// last kept fp32 unless told otherwise, then each [[layers]] glob in order;
// errors (a bad spelling, a glob matching nothing) name the key or glob.
std::vector<Precision> layer_precisions(const std::string& text, const std::string& source,
                                        const std::vector<std::string>& names) {
  cli::RunConfig c = cli::default_run_config();
  cli::load_config_text(text, source, c);
  nn::Model m;
  m.name = "the converted model";
  for (const std::string& n : names) {
    auto l = std::make_unique<nn::Linear<float>>(1, 1, false);
    l->name = n;
    m.blocks.push_back(std::make_unique<nn::SingleLayer>(std::move(l)));
  }
  nn::apply_precision(m, c.train.precision, c.train.seed, c.train.layers);
  std::vector<Precision> out;
  for (nn::Layer<float>* l : m.product_layers()) {
    auto& f = dynamic_cast<nn::Linear<float>&>(*l);
    out.push_back({f.precision, f.stats_request.counts, f.stats_request.error});
  }
  return out;
}


// A mirror of a converted layer for nn's precision policies: an nn layer of
// the same shape whose weights, gradients and forward statistics are copied
// in from PyTorch before each hook (policies read them through
// Model::product_layers(); nn::Linear's own statistics are private, hence stats()).
template <class L>
class Mirror : public L {
 public:
  using L::L;
  const nn::LayerStats* stats() const override { return &recorded; }
  nn::LayerStats recorded;
};

// nn::make_policy on a model of mirrors: the hooks run as lpsim train calls
// them, and each hook's precisions are copied in from the Python layers
// before and back after, so whatever the policy sets is what they compute.
class TorchPolicy {
 public:
  // layers: ("linear", in, out, bias) or ("conv2d", in, out, kernel, stride, padding, groups, bias), depth order.
  TorchPolicy(const std::string& text, const std::string& source, const std::vector<::py::tuple>& layers,
              const std::vector<std::string>& names) {
    cli::RunConfig c = cli::default_run_config();
    cli::load_config_text(text, source, c);
    policy_ = nn::make_policy(c.train.policy);
    config_ = nn::with_method_defaults(c.train.policy);
    if (layers.size() != names.size()) throw ::py::value_error("TorchPolicy: one name per layer");
    model_.name = "the converted model";
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const ::py::tuple& t = layers[i];
      const auto kind = t[0].cast<std::string>();
      std::unique_ptr<nn::Layer<float>> l;
      if (kind == "linear") {
        l = std::make_unique<Mirror<nn::Linear<float>>>(t[1].cast<std::int64_t>(), t[2].cast<std::int64_t>(),
                                                        t[3].cast<bool>());
      } else if (kind == "conv2d") {
        l = std::make_unique<Mirror<nn::Conv2d<float>>>(
            t[1].cast<std::int64_t>(), t[2].cast<std::int64_t>(), t[3].cast<std::int64_t>(), t[4].cast<std::int64_t>(),
            t[5].cast<std::int64_t>(), t[6].cast<std::int64_t>(), t[7].cast<bool>());
      } else {
        throw ::py::value_error("TorchPolicy: layer kind \"" + kind + "\" (linear, conv2d)");
      }
      l->name = names[i];
      l->depth = int(i);
      model_.blocks.push_back(std::make_unique<nn::SingleLayer>(std::move(l)));
    }
    layers_ = model_.product_layers();
  }

  std::string name() const { return policy_->name(); }
  std::string keep_fp32() const { return config_.keep_fp32; }

  void begin(const ::py::list& precisions, const ::py::list& weights, std::int64_t per_epoch, std::int64_t total,
             int epochs, std::uint64_t seed) {
    push(precisions);
    copy_weights(weights, false);
    policy_->begin(model_, {.iterations_per_epoch = per_epoch, .total_iterations = total, .epochs = epochs, .seed = seed});
    pull(precisions);
  }
  void before_step(const ::py::list& precisions, std::int64_t it) {
    push(precisions);
    policy_->before_step(model_, it);
    pull(precisions);
  }
  // weights: (weight, bias, weight grad, bias grad) per layer (grads None: zeros); fwd: the latest
  // forward GemmStats per layer (None: not run).
  void after_backward(const ::py::list& precisions, const ::py::list& weights, const ::py::list& fwd, std::int64_t it) {
    push(precisions);
    copy_weights(weights, true);
    if (fwd.size() != layers_.size()) throw ::py::value_error("TorchPolicy: one forward statistics per layer");
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      auto* s = recorded(layers_[i]);
      s->name = layers_[i]->name, s->depth = int(i);
      if (fwd[i].is_none()) continue;
      s->fwd = fwd[i].cast<sim::GemmStats>();
      s->fwd_calls += 1;
    }
    policy_->after_backward(model_, it);
    pull(precisions);
  }
  void after_step(const ::py::list& precisions, std::int64_t it, double loss, double accuracy) {
    push(precisions);
    policy_->after_step(model_, it, loss, accuracy);
    pull(precisions);
  }
  void end_epoch(const ::py::list& precisions, int epoch, double train_loss, double train_acc, double test_loss,
                 double test_acc) {
    nn::EpochRecord r;
    r.epoch = epoch, r.train_loss = train_loss, r.train_acc = train_acc, r.test_loss = test_loss, r.test_acc = test_acc;
    push(precisions);
    policy_->end_epoch(model_, r);
    pull(precisions);
  }
  std::optional<double> layer_param(int depth) const { return policy_->layer_param(depth); }
  std::vector<double> state() const { return policy_->state(); }
  void set_state(const std::vector<double>& s) {
    try {
      policy_->set_state(s);
    } catch (const std::invalid_argument& e) {
      throw ::py::value_error(e.what());
    }
  }

 private:
  static nn::LayerStats* recorded(nn::Layer<float>* l) {
    if (auto* c = dynamic_cast<Mirror<nn::Conv2d<float>>*>(l)) return &c->recorded;
    return &dynamic_cast<Mirror<nn::Linear<float>>*>(l)->recorded;
  }
  void check_count(const ::py::list& l, const char* what) const {
    if (l.size() != layers_.size())
      throw ::py::value_error(std::string("TorchPolicy: ") + what + ": " + std::to_string(l.size()) + " for " +
                              std::to_string(layers_.size()) + " layers");
  }
  void push(const ::py::list& precisions) {
    check_count(precisions, "precisions");
    for (std::size_t i = 0; i < layers_.size(); ++i) *nn::policies::precision_of(layers_[i]) = precisions[i].cast<Precision&>().p;
  }
  void pull(const ::py::list& precisions) const {
    for (std::size_t i = 0; i < layers_.size(); ++i) precisions[i].cast<Precision&>().p = *nn::policies::precision_of(layers_[i]);
  }
  void copy_weights(const ::py::list& weights, bool grads) {
    check_count(weights, "weights");
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const auto t = weights[i].cast<::py::tuple>();
      std::vector<nn::Param<float>*> ps = layers_[i]->params();  // weight, then bias if any
      for (std::size_t j = 0; j < ps.size(); ++j) {
        nn::Param<float>& p = *ps[j];
        copy_param(p.value, f32(t[j], "weight"), layers_[i]->name, j ? "bias" : "weight");
        if (!grads) continue;
        if (t[2 + j].is_none()) p.grad = Tensor<float>(p.value.shape);
        else {
          if (p.grad.shape != p.value.shape) p.grad = Tensor<float>(p.value.shape);
          copy_param(p.grad, f32(t[2 + j], "gradient"), layers_[i]->name, j ? "bias gradient" : "weight gradient");
        }
      }
    }
  }

  nn::Model model_;
  std::vector<nn::Layer<float>*> layers_;
  std::unique_ptr<nn::PrecisionPolicy> policy_;
  nn::PolicyConfig config_;
};


// A product layer of a native nn model that keeps what it saw (x, y, dy, dx)
// when asked: the bridge's products are compared with nn's on nn's own
// activations and errors (tests, the ResNet-20 proof of docs/torch.md).
class Recorder : public nn::Layer<float> {
 public:
  explicit Recorder(std::unique_ptr<nn::Layer<float>> l) : inner(std::move(l)) {
    name = inner->name;
    depth = inner->depth;
  }
  Tensor<float> forward(const Tensor<float>& x, bool training) override {
    Tensor<float> y = inner->forward(x, training);
    if (record) this->x = x, this->y = y;
    return y;
  }
  Tensor<float> backward(const Tensor<float>& dy) override {
    Tensor<float> dx = inner->backward(dy);
    if (record) this->dy = dy, this->dx = dx;
    return dx;
  }
  std::vector<nn::Param<float>*> params() override { return inner->params(); }
  const nn::LayerStats* stats() const override { return inner->stats(); }
  std::unique_ptr<nn::Layer<float>> inner;
  bool record = false;
  Tensor<float> x, y, dy, dx;
};

// lpsim's own nn model (nn::make_model, apply_precision from a run config),
// stepped from Python on given batches: the native side of the bridge's
// comparisons and of bench/bench_torch_bridge.py.
class NativeModel {
 public:
  NativeModel(const std::string& text, const std::string& source, std::int64_t channels, std::int64_t height,
              std::int64_t width, std::int64_t classes) {
    cli::RunConfig c = cli::default_run_config();
    cli::load_config_text(text, source, c);
    cfg_ = c.train;
    nn::ModelSpec spec = cfg_.model;
    spec.channels = channels, spec.height = height, spec.width = width, spec.classes = classes;
    spec.seed = cfg_.seed;
    model_ = nn::make_model(spec);
    nn::apply_precision(*model_, cfg_.precision, cfg_.seed, cfg_.layers);
    inner_ = model_->product_layers();
    auto wrap = [this](std::unique_ptr<nn::Layer<float>>& l) {
      if (!l->stats()) return;
      auto r = std::make_unique<Recorder>(std::move(l));
      recorders_.push_back(r.get());
      l = std::move(r);
    };
    for (auto& b : model_->blocks) {
      if (auto* s = dynamic_cast<nn::SingleLayer*>(b.get())) wrap(s->layer);
      else if (auto* r = dynamic_cast<nn::ResidualBlock*>(b.get())) {
        for (auto& l : r->main) wrap(l);
        for (auto& l : r->shortcut) wrap(l);
      }
    }
    params_ = model_->params();
  }

  std::vector<std::string> layer_names() const {
    std::vector<std::string> out;
    for (auto* l : inner_) out.push_back(l->name);
    return out;
  }
  std::vector<Precision> precisions() const {
    std::vector<Precision> out;
    for (auto* l : inner_) out.push_back({*nn::policies::precision_of(l), false, false});
    return out;
  }
  ::py::list params() const {
    ::py::list out;
    for (auto* p : params_) out.append(::py::make_tuple(p->name, to_array(Tensor<float>(p->value))));
    return out;
  }
  ::py::list grads() const {
    ::py::list out;
    for (auto* p : params_) out.append(::py::make_tuple(p->name, to_array(Tensor<float>(p->grad))));
    return out;
  }
  void set_params(const ::py::dict& values) {
    std::size_t used = 0;
    for (auto* p : params_) {
      if (!values.contains(p->name)) continue;
      copy_param(p->value, f32(values[::py::str(p->name)], "parameter"), p->name, "value");
      ++used;
    }
    if (used != values.size()) throw ::py::key_error("NativeModel.set_params: a name that is not a parameter");
  }
  void set_record(bool on) {
    for (auto* r : recorders_) r->record = on;
  }
  // Forward (training), loss, backward: (loss, correct, logits); the gradients stay in the params.
  ::py::tuple forward_backward(const ::py::object& x_, const std::vector<std::int64_t>& labels) {
    const F32 x = f32(x_, "x");
    float loss = 0;
    Tensor<float> logits;
    {
      ::py::gil_scoped_release nogil;
      for (auto* p : params_) p->grad = Tensor<float>(p->value.shape);
      logits = model_->forward(to_tensor(x), true);
      loss = model_->loss.forward(logits, labels);
      model_->backward(model_->loss.backward());
      bitops_ = bitops32_ = 0;
      for (auto* l : inner_) nn::step_bitops(*l, bitops_, bitops32_);
    }
    return ::py::make_tuple(loss, model_->loss.correct, to_array(std::move(logits)));
  }
  ::py::array forward(const ::py::object& x_, bool training) {
    const F32 x = f32(x_, "x");
    Tensor<float> y;
    {
      ::py::gil_scoped_release nogil;
      y = model_->forward(to_tensor(x), training);
    }
    return to_array(std::move(y));
  }
  // The run config's optimizer (SGD with momentum, weight decay by default) at this learning rate.
  void optimizer_step(double lr) {
    ::py::gil_scoped_release nogil;
    nn::optimizer_step(cfg_.optimizer, params_, lr, step_++);
  }
  ::py::list recorded() const {
    ::py::list out;
    for (auto* r : recorders_) {
      ::py::dict d;
      d["name"] = r->name;
      auto put = [&](const char* k, const Tensor<float>& t) {
        if (t.numel()) d[k] = to_array(Tensor<float>(t));
        else d[k] = ::py::none();
      };
      put("x", r->x), put("y", r->y), put("dy", r->dy), put("dx", r->dx);
      d["iteration"] = iteration_of(r->inner.get());
      out.append(d);
    }
    return out;
  }
  std::pair<double, double> bitops() const { return {bitops_, bitops32_}; }

 private:
  static std::uint64_t iteration_of(nn::Layer<float>* l) {
    if (auto* c = dynamic_cast<nn::Conv2d<float>*>(l)) return c->iteration;
    return dynamic_cast<nn::Linear<float>*>(l)->iteration;
  }
  nn::TrainConfig cfg_;
  std::unique_ptr<nn::Model> model_;
  std::vector<nn::Layer<float>*> inner_;
  std::vector<Recorder*> recorders_;
  std::vector<nn::Param<float>*> params_;
  std::int64_t step_ = 0;
  double bitops_ = 0, bitops32_ = 0;
};

}  // namespace

void bind_torch(::py::module_& m) {
  ::py::class_<Precision>(m, "LayerPrecision",
                          "What one product layer computes in (nn/precision.hpp): quantizers w, a, e, g (and e_dw), "
                          "the MACs of its three products, its random key and statistics request.")
      .def(::py::init([](std::optional<std::string> w, std::optional<std::string> a, std::optional<std::string> e,
                         std::optional<std::string> g, std::optional<std::string> e_dw, const std::string& w_round,
                         const std::string& a_round, const std::string& e_round, const std::string& g_round,
                         const std::string& e_dw_round, std::optional<std::string> mac, const std::string& mac_fwd,
                         const std::string& mac_bwd_data, const std::string& mac_bwd_weight, std::uint64_t seed,
                         std::uint32_t stream, bool a_running_range, bool counts, bool error) {
             Precision p;
             p.p.w = quant_of(w, w_round), p.p.a = quant_of(a, a_round), p.p.e = quant_of(e, e_round);
             p.p.g = quant_of(g, g_round), p.p.e_dw = quant_of(e_dw, e_dw_round);
             p.p.fwd = sim::parse_mac(mac ? *mac : mac_fwd);
             p.p.bwd_data = sim::parse_mac(mac ? *mac : mac_bwd_data);
             p.p.bwd_weight = sim::parse_mac(mac ? *mac : mac_bwd_weight);
             p.p.key = {seed, stream};
             p.p.a_running_range = a_running_range;
             p.counts = counts, p.error = error;
             return p;
           }),
           ::py::kw_only(), ::py::arg("w") = ::py::none(), ::py::arg("a") = ::py::none(), ::py::arg("e") = ::py::none(),
           ::py::arg("g") = ::py::none(), ::py::arg("e_dw") = ::py::none(), ::py::arg("w_round") = "rne",
           ::py::arg("a_round") = "rne", ::py::arg("e_round") = "sr", ::py::arg("g_round") = "rne",
           ::py::arg("e_dw_round") = "sr", ::py::arg("mac") = ::py::none(), ::py::arg("mac_fwd") = "fp32",
           ::py::arg("mac_bwd_data") = "fp32", ::py::arg("mac_bwd_weight") = "fp32", ::py::arg("seed") = 0,
           ::py::arg("stream") = 0, ::py::arg("a_running_range") = false, ::py::arg("counts") = false,
           ::py::arg("error") = false,
           "A precision from a config's [precision] keys: w, a, e, g, e_dw quantizer spellings (None or \"fp32\": "
           "unquantized) and their roundings; mac sets all three MACs, else mac_fwd, mac_bwd_data, mac_bwd_weight; "
           "(seed, stream) the layer key; a_running_range, counts and error as the properties of those names. "
           "Bad spellings raise the parser's error.")
      .def_property("w", [](const Precision& p) { return spelling_of(p.p.w); },
                    [](Precision& p, std::optional<std::string> s) { set_quant(p.p.w, s, "rne"); },
                    "W's quantizer (the weights, before the forward product): its format spelling, None when unquantized. Setting a spelling keeps the current rounding (rne if none); None or \"fp32\" removes it.")
      .def_property("a", [](const Precision& p) { return spelling_of(p.p.a); },
                    [](Precision& p, std::optional<std::string> s) { set_quant(p.p.a, s, "rne"); },
                    "A's quantizer (the layer's input activation, before the forward product): its format spelling, None when unquantized. Setting keeps the current rounding (rne if none); None or \"fp32\" removes it.")
      .def_property("e", [](const Precision& p) { return spelling_of(p.p.e); },
                    [](Precision& p, std::optional<std::string> s) { set_quant(p.p.e, s, "sr"); },
                    "E's quantizer (the incoming error dY, before both backward products; dX only when e_dw is set): its format spelling, None when unquantized. Setting keeps the current rounding (sr if none); None or \"fp32\" removes it.")
      .def_property("g", [](const Precision& p) { return spelling_of(p.p.g); },
                    [](Precision& p, std::optional<std::string> s) { set_quant(p.p.g, s, "rne"); },
                    "G's quantizer (the weight gradient, after its product): its format spelling, None when unquantized. Setting keeps the current rounding (rne if none); None or \"fp32\" removes it.")
      .def_property("e_dw", [](const Precision& p) { return spelling_of(p.p.e_dw); },
                    [](Precision& p, std::optional<std::string> s) { set_quant(p.p.e_dw, s, "sr"); },
                    "SBM's gradient bifurcation: the quantizer of the error entering the weight-gradient product (and the bias gradient) instead of e, None when unset (e serves both). Setting keeps the current rounding (sr if none); None or \"fp32\" removes it.")
      .def_property("w_round", [](const Precision& p) { return rounding_of(p.p.w); },
                    [](Precision& p, const std::string& r) { set_round(p.p.w, r); },
                    "W's rounding spelling (rne, sr, ...), \"\" while W is unquantized; setting it on an unquantized W parses it and changes nothing.")
      .def_property("a_round", [](const Precision& p) { return rounding_of(p.p.a); },
                    [](Precision& p, const std::string& r) { set_round(p.p.a, r); },
                    "A's rounding spelling (rne, sr, ...), \"\" while A is unquantized; setting it on an unquantized A parses it and changes nothing.")
      .def_property("e_round", [](const Precision& p) { return rounding_of(p.p.e); },
                    [](Precision& p, const std::string& r) { set_round(p.p.e, r); },
                    "E's rounding spelling (rne, sr, ...), \"\" while E is unquantized; setting it on an unquantized E parses it and changes nothing.")
      .def_property("g_round", [](const Precision& p) { return rounding_of(p.p.g); },
                    [](Precision& p, const std::string& r) { set_round(p.p.g, r); },
                    "G's rounding spelling (rne, sr, ...), \"\" while G is unquantized; setting it on an unquantized G parses it and changes nothing.")
      .def_property("mac_fwd", [](const Precision& p) { return p.p.fwd.spelling(); },
                    [](Precision& p, const std::string& s) { p.p.fwd = sim::parse_mac(s); },
                    "The MAC of the forward product Y = W . X: its canonical spelling; set from any MAC spelling or preset name.")
      .def_property("mac_bwd_data", [](const Precision& p) { return p.p.bwd_data.spelling(); },
                    [](Precision& p, const std::string& s) { p.p.bwd_data = sim::parse_mac(s); },
                    "The MAC of the data-gradient product dX = W^T . dY: its canonical spelling; set from any MAC spelling or preset name.")
      .def_property("mac_bwd_weight", [](const Precision& p) { return p.p.bwd_weight.spelling(); },
                    [](Precision& p, const std::string& s) { p.p.bwd_weight = sim::parse_mac(s); },
                    "The MAC of the weight-gradient product dW = dY . X^T: its canonical spelling; set from any MAC spelling or preset name.")
      .def_property("seed", [](const Precision& p) { return p.p.key.seed; },
                    [](Precision& p, std::uint64_t s) { p.p.key.seed = s; },
                    "The seed of the layer key, the base of every random draw (stochastic rounding) with stream and the step (draw_key).")
      .def_property("stream", [](const Precision& p) { return p.p.key.stream; },
                    [](Precision& p, std::uint32_t s) { p.p.key.stream = s; },
                    "The stream of the layer key (a 32-bit integer; layer_precisions gives layer i the stream i * 1024).")
      .def_property_readonly("bits",
                             [](const Precision& p) {
                               const nn::LayerBits b = nn::policies::counted_bits(p.p);
                               return ::py::make_tuple(b.w, b.a, b.e, b.g);
                             },
                             "(w, a, e, g) element bits, 32 where unquantized, as BitOPs count them (a policy's "
                             "25-31-bit widths, quantized at 24, count as allocated)")
      .def_readwrite("counts", &Precision::counts,
                     "Count MAC events (additions, swamped, overflows, saturations) in the products' GemmStats (slower).")
      .def_readwrite("error", &Precision::error,
                     "Measure each product's error against the exact product (GemmStats max/mean relative error, SQNR; slower).")
      .def_property("a_running_range", [](const Precision& p) { return p.p.a_running_range; },
                    [](Precision& p, bool on) { p.p.a_running_range = on; },
                    "A's per-tensor scaled quantizer uses the batch's range in training and a running range (folded in each training forward) in evaluation, as the SBM and CPT authors' QuantMeasure.")
      .def("__repr__", [](const Precision& p) {
        std::string r = "LayerPrecision(";
        auto q = [&](const char* n, const std::optional<nn::QuantSpec>& s) {
          if (s) r += std::string(n) + "='" + s->format.spelling + "/" + s->rounding.spelling() + "', ";
        };
        q("w", p.p.w), q("a", p.p.a), q("e", p.p.e), q("g", p.p.g), q("e_dw", p.p.e_dw);
        return r + "mac_fwd='" + p.p.fwd.spelling() + "', mac_bwd_data='" + p.p.bwd_data.spelling() +
               "', mac_bwd_weight='" + p.p.bwd_weight.spelling() + "', seed=" + std::to_string(p.p.key.seed) +
               ", stream=" + std::to_string(p.p.key.stream) + ")";
      }, "LayerPrecision(w='<format>/<rounding>', ... (quantized tensors only), mac_fwd=..., mac_bwd_data=..., "
         "mac_bwd_weight=..., seed=..., stream=...).");

  m.def("layer_precisions", &layer_precisions, ::py::arg("toml_text"), ::py::arg("source"), ::py::arg("names"),
        "The LayerPrecision of each named product layer from a run config's [precision], seed and [[layers]], "
        "as lpsim train sets them (nn::apply_precision).");

  m.def(
      "draw_key",
      [](std::uint64_t seed, std::uint32_t stream, std::uint64_t iteration, const std::string& role) {
        const arith::RandomKey k = nn::draw_key({seed, stream}, iteration, draw_of(role));
        return std::make_pair(k.seed, k.stream);
      },
      ::py::arg("seed"), ::py::arg("stream"), ::py::arg("iteration"), ::py::arg("role"),
      "(seed, stream) of a layer's draw in one step (nn::draw_key): role w, a, e, g, fwd, bwd_data, bwd_weight.");

  m.def(
      "batch_key",
      [](std::uint64_t seed, std::uint32_t stream, std::int64_t i) {
        const arith::RandomKey k = batch_key({seed, stream}, i);
        return std::make_pair(k.seed, k.stream);
      },
      ::py::arg("seed"), ::py::arg("stream"), ::py::arg("index"),
      "The layer key of matrix `index` of a batched product (index 0: the key itself).");

  m.def(
      "quantize_tensor",
      [](const ::py::object& x_, const std::string& format, const std::string& rounding, std::uint64_t seed,
         std::uint32_t stream, int channel_axis, const ::py::object& out_) {
        const nn::QuantSpec spec = nn::parse_quant(format, rounding);
        const F32 x = f32(x_, "quantize: x");
        if (x.ndim() > 0 && (channel_axis < 0 || channel_axis >= x.ndim()) && spec.format.kind == arith::Kind::Scaled)
          throw ::py::value_error("quantize: channel_axis " + std::to_string(channel_axis) + " of a " +
                                  std::to_string(x.ndim()) + "-D tensor");
        ::py::array_t<float> out;
        if (out_.is_none()) out = ::py::array_t<float>(std::vector<::py::ssize_t>(x.shape(), x.shape() + x.ndim()));
        else {
          // Written in place, so never a converted copy: exactly float32, x's shape, C-contiguous, writeable.
          if (!::py::isinstance<::py::array_t<float>>(out_))
            throw ::py::type_error("quantize: out must be a float32 array");
          out = out_.cast<::py::array_t<float>>();
          bool same = out.ndim() == x.ndim();
          for (::py::ssize_t i = 0; same && i < x.ndim(); ++i) same = out.shape(i) == x.shape(i);
          if (!same || !(out.flags() & ::py::array::c_style) || !out.writeable())
            throw ::py::value_error("quantize: out must be a writeable C-contiguous float32 array of x's shape");
        }
        const std::vector<std::int64_t> shape(x.shape(), x.shape() + x.ndim());
        const float* in = x.data();
        float* o = out.mutable_data();
        {
          ::py::gil_scoped_release nogil;
          nn::quantize_tensor(spec, in, o, shape, channel_axis, {seed, stream});
        }
        return out;
      },
      ::py::arg("x"), ::py::arg("format"), ::py::arg("rounding") = "rne", ::py::arg("seed") = 0,
      ::py::arg("stream") = 0, ::py::arg("channel_axis") = 0, ::py::arg("out") = ::py::none(),
      "x (C-contiguous float32) quantized as nn's quantizers do (nn::quantize_tensor): absolute and scaled "
      "formats (int8/minmax/channel, mxfp8e4m3, ...); out (the same shape, float32) may be x. Releases the GIL.");

  ::py::class_<LinearOp>(m, "LinearOp", "One call of nn::Linear<float>: forward, then one backward")
      .def(::py::init([](std::int64_t in, std::int64_t out, bool bias, const Precision& pr, const std::string& name,
                         int depth, std::uint64_t iteration, const std::vector<float>& a_range) {
             auto l = std::make_unique<nn::Linear<float>>(in, out, bias);
             configure(*l, pr, name, depth, iteration, a_range);
             return std::make_unique<LinearOp>(std::move(l));
           }),
           ::py::arg("in_features"), ::py::arg("out_features"), ::py::arg("bias"), ::py::arg("precision"),
           ::py::arg("name"), ::py::arg("depth"), ::py::arg("iteration"), ::py::arg("a_range"),
           "An nn::Linear<float>(in_features, out_features, bias) computing in `precision`, named `name` at `depth` "
           "(statistics and errors carry them), at step `iteration` (part of every random key), with the running "
           "activation range a_range = [zero point, range].")
      .def("forward", &LinearOp::forward, ::py::arg("x"), ::py::arg("weight"), ::py::arg("bias"), ::py::arg("training"),
           "Y = X . W^T + b as nn::Linear computes it (W and A quantized, the fwd MAC): x (batch, in_features), "
           "weight (out_features, in_features), bias (out_features,) or None as the layer has one, float32 "
           "(converted if not). Returns y (batch, out_features) float32. training: fold the running range "
           "(else quantize A with it). Releases the GIL.")
      .def("backward", &LinearOp::backward, ::py::arg("grad_output"), ::py::arg("input_grad"),
           "The backward of the latest forward: grad_output dY (batch, out_features) float32, quantized by E. "
           "Returns (dx (batch, in_features) or None unless input_grad, dw (out_features, in_features) quantized "
           "by G, db (out_features,) or None without a bias), float32. May run again (retain_graph): the same "
           "step, from zero gradients. Raises ValueError before a forward. Releases the GIL.")
      .def("stats", &LinearOp::stats,
           "The latest GemmStats of each product run so far: {\"fwd\", \"bwd_data\", \"bwd_weight\"} (a key "
           "only once its product ran), tagged <name>/<product> with the layer's depth.")
      .def("a_range", &LinearOp::a_range,
           "The running activation range [zero point, range] after the forward (unchanged unless "
           "precision.a_running_range and A is a scaled format).")
      .def("bitops", &LinearOp::bitops,
           "(bitops, bitops_fp32) of the step after backward, as lpsim train counts them: MACs x operand bits x "
           "operand bits over the forward, error and weight-gradient products, and the same at 32 bits.");

  ::py::class_<Conv2dOp>(m, "Conv2dOp", "One call of nn::Conv2d<float>: forward, then one backward")
      .def(::py::init([](std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
                         std::int64_t padding, std::int64_t groups, bool bias, const Precision& pr,
                         const std::string& name, int depth, std::uint64_t iteration, const std::vector<float>& a_range) {
             auto l = std::make_unique<nn::Conv2d<float>>(in, out, kernel, stride, padding, groups, bias);
             configure(*l, pr, name, depth, iteration, a_range);
             return std::make_unique<Conv2dOp>(std::move(l));
           }),
           ::py::arg("in_channels"), ::py::arg("out_channels"), ::py::arg("kernel"), ::py::arg("stride"),
           ::py::arg("padding"), ::py::arg("groups"), ::py::arg("bias"), ::py::arg("precision"), ::py::arg("name"),
           ::py::arg("depth"), ::py::arg("iteration"), ::py::arg("a_range"),
           "An nn::Conv2d<float>(in_channels, out_channels, kernel, stride, padding, groups, bias) (square kernel, "
           "zero padding) computing in `precision`, named `name` at `depth`, at step `iteration` (part of every "
           "random key), with the running activation range a_range = [zero point, range].")
      .def("forward", &Conv2dOp::forward, ::py::arg("x"), ::py::arg("weight"), ::py::arg("bias"), ::py::arg("training"),
           "The convolution as nn::Conv2d computes it (W and A quantized, the fwd MAC): x (N, in_channels, H, W) "
           "NCHW, weight (out_channels, in_channels / groups, kernel, kernel), bias (out_channels,) or None as "
           "the layer has one, float32 (converted if not). Returns y (N, out_channels, H', W') float32. "
           "training: fold the running range (else quantize A with it). Releases the GIL.")
      .def("backward", &Conv2dOp::backward, ::py::arg("grad_output"), ::py::arg("input_grad"),
           "The backward of the latest forward: grad_output dY (N, out_channels, H', W') float32, quantized by E. "
           "Returns (dx (x's shape) or None unless input_grad, dw (weight's shape) quantized by G, db "
           "(out_channels,) or None without a bias), float32. May run again (retain_graph): the same step, from "
           "zero gradients. Raises ValueError before a forward. Releases the GIL.")
      .def("stats", &Conv2dOp::stats,
           "The latest GemmStats of each product run so far: {\"fwd\", \"bwd_data\", \"bwd_weight\"} (a key "
           "only once its product ran), tagged <name>/<product> with the layer's depth.")
      .def("a_range", &Conv2dOp::a_range,
           "The running activation range [zero point, range] after the forward (unchanged unless "
           "precision.a_running_range and A is a scaled format).")
      .def("bitops", &Conv2dOp::bitops,
           "(bitops, bitops_fp32) of the step after backward, as lpsim train counts them: MACs x operand bits x "
           "operand bits over the forward, error and weight-gradient products, and the same at 32 bits.");

  ::py::class_<BmmOp>(m, "BmmOp", "One call of a batched product: nn::Linear per matrix, keys batch_key(key, i)")
      .def(::py::init<std::int64_t, std::int64_t, std::int64_t, const Precision&, const std::string&, int, std::uint64_t,
                      const std::vector<float>&>(),
           ::py::arg("batch"), ::py::arg("k"), ::py::arg("n"), ::py::arg("precision"), ::py::arg("name"),
           ::py::arg("depth"), ::py::arg("iteration"), ::py::arg("a_range"),
           "`batch` products X[i] (m, k) . Y[i] (k, n), each an nn::Linear<float>(k, n) without bias computing in "
           "`precision` with the layer key batch_key(key, i), named `name` at `depth`, at step `iteration`; every "
           "matrix starts from the running range a_range = [zero point, range]. Raises ValueError for batch < 1.")
      .def("forward", &BmmOp::forward, ::py::arg("x"), ::py::arg("yt"), ::py::arg("training"),
           "Z[i] = X[i] . Y[i]: x (batch, m, k) takes A's quantizer, yt = Y^T (batch, n, k) W's, float32 "
           "(converted if not), each matrix quantized on its own. Returns z (batch, m, n) float32. Releases the GIL.")
      .def("backward", &BmmOp::backward, ::py::arg("grad_output"), ::py::arg("input_grad"),
           "The backward of the latest forward: grad_output dZ (batch, m, n) float32, quantized by E. Returns "
           "(dx (batch, m, k) or None unless input_grad, d(Y^T) (batch, n, k), the weight gradient quantized by G), "
           "float32. May run again (retain_graph): the same step, from zero gradients. Raises ValueError before a "
           "forward. Releases the GIL.")
      .def("stats", &BmmOp::stats,
           "The latest GemmStats of matrix 0's products (every matrix has the same shape): {\"fwd\", "
           "\"bwd_data\", \"bwd_weight\"}, a key only once its product ran.")
      .def("bitops", &BmmOp::bitops,
           "(bitops, bitops_fp32) of the step after backward, summed over the batch's matrices as lpsim train "
           "counts them (MACs x operand bits x operand bits), and the same at 32 bits.");

  ::py::class_<TorchPolicy>(m, "TorchPolicy",
                            "nn::make_policy driving the precisions of converted layers through mirrors of them")
      .def(::py::init<const std::string&, const std::string&, const std::vector<::py::tuple>&,
                      const std::vector<std::string>&>(),
           ::py::arg("toml_text"), ::py::arg("source"), ::py::arg("layers"), ::py::arg("names"),
           "The policy of a run config's [policy] (toml_text; `source` names it in errors) on mirrors of the "
           "converted layers: layers, in depth order, each (\"linear\", in, out, bias) or (\"conv2d\", in, out, "
           "kernel, stride, padding, groups, bias); names, one per layer. Raises ValueError for a bad knob, kind "
           "or count.")
      .def_property_readonly("name", &TorchPolicy::name, "The policy's name (nn::PrecisionPolicy::name).")
      .def_property_readonly("keep_fp32", &TorchPolicy::keep_fp32,
                             "The layers the policy leaves as they are, after the method's defaults: "
                             "\"first,last\", \"first\", \"last\" or \"none\".")
      .def("begin", &TorchPolicy::begin, ::py::arg("precisions"), ::py::arg("weights"),
           ::py::arg("iterations_per_epoch"), ::py::arg("total_iterations"), ::py::arg("epochs"), ::py::arg("seed"),
           "The policy's begin hook, once before training: precisions (one LayerPrecision per layer, read and "
           "written back in place), weights ((weight, bias or None) float32 arrays per layer), the run's length "
           "in iterations and epochs, and its seed.")
      .def("before_step", &TorchPolicy::before_step, ::py::arg("precisions"), ::py::arg("iteration"),
           "The before_step hook of step `iteration`: sets this step's formats in `precisions` (in place).")
      .def("after_backward", &TorchPolicy::after_backward, ::py::arg("precisions"), ::py::arg("weights"),
           ::py::arg("fwd"), ::py::arg("iteration"),
           "The after_backward hook (gradients computed, optimizer not yet run): weights (weight, bias, weight "
           "grad, bias grad) float32 arrays per layer (bias None without one, a grad None: zeros); fwd, the "
           "latest forward GemmStats per layer (None: not run). Writes `precisions` back in place.")
      .def("after_step", &TorchPolicy::after_step, ::py::arg("precisions"), ::py::arg("iteration"),
           ::py::arg("loss"), ::py::arg("accuracy"),
           "The after_step hook of step `iteration` with the batch's loss and accuracy (a fraction); writes "
           "`precisions` back in place.")
      .def("end_epoch", &TorchPolicy::end_epoch, ::py::arg("precisions"), ::py::arg("epoch"), ::py::arg("train_loss"),
           ::py::arg("train_acc"), ::py::arg("test_loss"), ::py::arg("test_acc"),
           "The end_epoch hook with the epoch's number and its train and test loss and accuracy; writes "
           "`precisions` back in place.")
      .def("layer_param", &TorchPolicy::layer_param, ::py::arg("depth"),
           "The policy's learned parameter of layer `depth` (its index among the layers given; LDP's beta), or "
           "None for a policy without one.")
      .def("state", &TorchPolicy::state,
           "The policy's state as a list of floats: what a resumed run needs to continue bit for bit.")
      .def("set_state", &TorchPolicy::set_state, ::py::arg("state"),
           "Restore a state() (after begin, which it overrides); ValueError for a state of the wrong size or kind.");
  ::py::class_<NativeModel>(m, "NativeModel", "lpsim's own nn model (make_model + apply_precision), stepped from Python")
      .def(::py::init<const std::string&, const std::string&, std::int64_t, std::int64_t, std::int64_t, std::int64_t>(),
           ::py::arg("toml_text"), ::py::arg("source"), ::py::arg("channels"), ::py::arg("height"), ::py::arg("width"),
           ::py::arg("classes"),
           "The run config's model ([model], seed) for inputs (channels, height, width) and `classes` logits, its "
           "precisions set as lpsim train sets them ([precision], [[layers]]) and its [optimizer]; `source` "
           "names the config in errors.")
      .def("layer_names", &NativeModel::layer_names, "The product layers' names, in depth order.")
      .def("precisions", &NativeModel::precisions,
           "A copy of each product layer's LayerPrecision, in depth order (counts and error False).")
      .def("params", &NativeModel::params,
           "[(name, copy of the value)] of every parameter in nn's order, float32 arrays.")
      .def("grads", &NativeModel::grads,
           "[(name, copy of the gradient)] of every parameter in nn's order, float32 arrays (those of the latest "
           "forward_backward).")
      .def("set_params", &NativeModel::set_params, ::py::arg("values"),
           "Copy {name: array} into the parameters of those names (float32, each its parameter's shape; "
           "ValueError otherwise); KeyError for a name that is no parameter.")
      .def("set_record", &NativeModel::set_record, ::py::arg("on"),
           "Whether the product layers keep what they see (x, y, dy, dx) from now on, for recorded().")
      .def("forward_backward", &NativeModel::forward_backward, ::py::arg("x"), ::py::arg("labels"),
           "One training forward, softmax cross-entropy and backward on x (N, channels, height, width) float32 "
           "and labels (N ints in [0, classes)), from zero gradients (left in the params): returns (loss, the "
           "number of samples whose largest logit is their label, logits (N, classes) float32). Releases the GIL.")
      .def("forward", &NativeModel::forward, ::py::arg("x"), ::py::arg("training"),
           "The logits (N, classes) float32 of x (N, channels, height, width), in training or evaluation mode "
           "(batch or running statistics). Releases the GIL.")
      .def("optimizer_step", &NativeModel::optimizer_step, ::py::arg("lr"),
           "One step of the run config's optimizer (SGD with momentum and weight decay by default) at learning "
           "rate lr, on the gradients of the latest forward_backward. Releases the GIL.")
      .def("recorded", &NativeModel::recorded,
           "What each product layer kept while set_record was on, in depth order: [{\"name\", \"x\", \"y\", "
           "\"dy\", \"dx\" (the latest float32 arrays, None if not seen), \"iteration\" (the layer's step "
           "counter)}].")
      .def("bitops", &NativeModel::bitops,
           "(bitops, bitops_fp32) of the latest forward_backward summed over the product layers, as lpsim train "
           "counts them (MACs x operand bits x operand bits), and the same at 32 bits.");
}

}  // namespace lpsim::py
