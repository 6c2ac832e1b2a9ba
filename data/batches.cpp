#include "data/batches.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

#include "data/counter_random.hpp"

namespace lpsim::data {

std::vector<std::int32_t> epoch_order(int n, std::uint64_t seed, int epoch) {
  return random_permutation(n, seed, RandomStream::Shuffle, std::uint64_t(epoch));
}

Augmentation augmentation_for(std::uint64_t seed, int epoch, int index, int padding, bool flip) {
  // One keyed word, stretched to three for the three choices.
  const std::uint64_t r0 = random_word(seed, RandomStream::Augment, std::uint64_t(epoch), std::uint64_t(index));
  const std::uint64_t r1 = mix64(r0), r2 = mix64(r1);
  const std::uint64_t span = std::uint64_t(2 * std::max(padding, 0) + 1);
  Augmentation a;
  a.dy = int(scale_below(r0, span));
  a.dx = int(scale_below(r1, span));
  a.flip = flip && (r2 >> 63);
  return a;
}

void crop_flip(const float* src, float* dst, int c, int h, int w, int padding, Augmentation a, const float* fill) {
  const int oy = a.dy - padding, ox = a.dx - padding;  // source row/column of dst's (0, 0)
  for (int ch = 0; ch < c; ++ch) {
    const float* s = src + std::size_t(ch) * h * w;
    float* d = dst + std::size_t(ch) * h * w;
    for (int y = 0; y < h; ++y) {
      const int sy = y + oy;
      for (int x = 0; x < w; ++x) {
        const int sx = (a.flip ? w - 1 - x : x) + ox;
        d[std::size_t(y) * w + x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? s[std::size_t(sy) * w + sx] : fill[ch];
      }
    }
  }
}

Loader::Loader(const Dataset& d, const LoaderOptions& options) : data_(d), opt_(options) {
  if (opt_.batch_size <= 0) throw std::invalid_argument("batch size must be positive, got " + std::to_string(opt_.batch_size));
  if (opt_.crop_padding < 0) throw std::invalid_argument("crop padding must be >= 0, got " + std::to_string(opt_.crop_padding));
  // Padding is black as in the usual pipeline (pad, then normalise): 0 in [0, 1] units.
  for (int ch = 0; ch < d.c; ++ch) pad_values_.push_back(d.norm.empty() ? 0.0f : (0.0f - d.norm.mean[ch]) / d.norm.std[ch]);
  start_epoch(0);
}

int Loader::batches_per_epoch() const {
  const int b = opt_.batch_size;
  return opt_.drop_last ? data_.n / b : (data_.n + b - 1) / b;
}

void Loader::start_epoch(int epoch, int first_batch) {
  epoch_ = epoch;
  next_batch_ = first_batch;
  if (opt_.shuffle) {
    order_ = epoch_order(data_.n, opt_.seed, epoch);
  } else {
    order_.resize(std::size_t(data_.n));
    std::iota(order_.begin(), order_.end(), 0);
  }
}

bool Loader::next(Batch& out) {
  if (next_batch_ >= batches_per_epoch()) return false;
  fill(next_batch_++, out);
  return true;
}

void Loader::fill(int batch, Batch& out) const {
  if (batch < 0 || batch >= batches_per_epoch())
    throw std::out_of_range("batch " + std::to_string(batch) + " of " + std::to_string(batches_per_epoch()));
  const int first = batch * opt_.batch_size, size = std::min(opt_.batch_size, data_.n - first);
  const std::size_t per = data_.sample_size();
  out.size = size, out.c = data_.c, out.h = data_.h, out.w = data_.w;
  out.images.resize(std::size_t(size) * per);
  out.labels.resize(std::size_t(size));
  out.indices.resize(std::size_t(size));
  const bool augment = opt_.crop_padding > 0 || opt_.flip;
  for (int k = 0; k < size; ++k) {
    const std::int32_t i = order_[std::size_t(first + k)];
    out.indices[k] = i;
    out.labels[k] = data_.labels[i];
    float* dst = out.images.data() + std::size_t(k) * per;
    if (augment)
      crop_flip(data_.image(i), dst, data_.c, data_.h, data_.w, opt_.crop_padding,
                augmentation_for(opt_.seed, epoch_, i, opt_.crop_padding, opt_.flip), pad_values_.data());
    else
      std::copy_n(data_.image(i), per, dst);
  }
}

}  // namespace lpsim::data
