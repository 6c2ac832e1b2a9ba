#include "nn/model.hpp"

namespace lpsim::nn {

Tensor<float> ResidualBlock::forward(const Tensor<float>& x, bool training) {
  Tensor<float> h = x, s = x;
  for (auto& l : main) h = l->forward(h, training);
  for (auto& l : shortcut) s = l->forward(s, training);
  Tensor<float> y = add.forward(h, s);
  return relu_after ? relu.forward(y, training) : y;
}

Tensor<float> ResidualBlock::backward(const Tensor<float>& dy) {
  const Tensor<float> d = add.backward(relu_after ? relu.backward(dy) : dy);
  Tensor<float> dh = d, ds = d;
  for (auto it = main.rbegin(); it != main.rend(); ++it) dh = (*it)->backward(dh);
  for (auto it = shortcut.rbegin(); it != shortcut.rend(); ++it) ds = (*it)->backward(ds);
  for (std::int64_t i = 0; i < dh.numel(); ++i) dh[i] += ds[i];
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
