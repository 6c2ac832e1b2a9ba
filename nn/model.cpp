#include "nn/model.hpp"

namespace lpsim::nn {

namespace {

// The layers applied in turn to x (forward) or to a gradient (backward, in
// reverse); x itself when there are none. The first call reads x in place.
Tensor<float> chain(const std::vector<std::unique_ptr<Layer<float>>>& layers, const Tensor<float>& x, bool forward,
                    bool training) {
  Tensor<float> h;
  const Tensor<float>* in = &x;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    Layer<float>& l = *layers[forward ? i : layers.size() - 1 - i];
    h = forward ? l.forward(*in, training) : l.backward(*in);
    in = &h;
  }
  if (layers.empty()) copy_into(h, x);
  return h;
}

}  // namespace

Tensor<float> ResidualBlock::forward(const Tensor<float>& x, bool training) {
  Tensor<float> s;
  if (!shortcut.empty()) s = chain(shortcut, x, true, training);
  Tensor<float> y = add.forward(chain(main, x, true, training), shortcut.empty() ? x : s);
  return relu_after ? relu.forward(y, training) : y;
}

Tensor<float> ResidualBlock::backward(const Tensor<float>& dy) {
  Tensor<float> through_relu;
  if (relu_after) through_relu = relu.backward(dy);
  const Tensor<float>& d = add.backward(relu_after ? through_relu : dy);
  Tensor<float> ds;
  if (!shortcut.empty()) ds = chain(shortcut, d, false, false);
  Tensor<float> dh = chain(main, d, false, false);
  const Tensor<float>& other = shortcut.empty() ? d : ds;
#pragma omp parallel for schedule(static) if (dh.numel() > (1 << 16))
  for (std::int64_t i = 0; i < dh.numel(); ++i) dh[i] += other[i];
  return dh;
}

void ResidualBlock::layers(std::vector<Layer<float>*>& out) {
  for (auto& l : main) out.push_back(l.get());
  for (auto& l : shortcut) out.push_back(l.get());
  if (relu_after) out.push_back(&relu);
}

Tensor<float> Model::forward(const Tensor<float>& x, bool training) {
  Tensor<float> h = x;
  for (auto& b : blocks) h = b->forward(h, training);
  return h;
}

void Model::backward(const Tensor<float>& dlogits) {
  Tensor<float> d = dlogits;
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    d = (*it)->backward(d);
    if (d.numel() == 0) break;  // the first layer skipped its input gradient
  }
}

std::vector<Layer<float>*> Model::layers() {
  std::vector<Layer<float>*> out;
  for (auto& b : blocks) b->layers(out);
  return out;
}

std::vector<Layer<float>*> Model::product_layers() {
  std::vector<Layer<float>*> out;
  for (auto* l : layers())
    if (l->stats()) out.push_back(l);
  return out;
}

std::vector<Param<float>*> Model::params() {
  std::vector<Param<float>*> out;
  for (auto* l : layers())
    for (auto* p : l->params()) out.push_back(p);
  return out;
}

std::int64_t Model::num_parameters() {
  std::int64_t n = 0;
  for (auto* p : params()) n += p->value.numel();
  return n;
}

}  // namespace lpsim::nn
