// Mini-batches with seeded per-epoch shuffling and optional augmentation
// (random crop from a padded image, horizontal flip).
//
// Every random choice is a pure function of its keys: epoch e's order of
// (seed, e), a sample's crop and flip of (seed, e, dataset index). So epoch e
// is the same whatever ran before (a run resumes at any epoch or batch), and
// neither the batch size nor a thread count changes what a sample looks like.
//
//   Loader loader(train, {.batch_size = 128, .seed = 1, .crop_padding = 4, .flip = true});
//   Batch b;
//   for (int e = 0; e < epochs; ++e)
//     for (loader.start_epoch(e); loader.next(b);) step(b.images, b.labels, b.size);
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.hpp"

namespace lpsim::data {

struct LoaderOptions {
  int batch_size = 128;
  std::uint64_t seed = 0;
  bool shuffle = true;     // false: dataset order every epoch
  bool drop_last = false;  // drop the last batch when it is smaller than batch_size
  int crop_padding = 0;    // > 0: crop h x w at a random offset from the image padded by this many black pixels each side
  bool flip = false;       // mirror left-right with probability 1/2
};

struct Batch {
  std::vector<float> images;           // size x c x h x w (NCHW)
  std::vector<std::int32_t> labels;    // size
  std::vector<std::int32_t> indices;   // size: each sample's index in the dataset
  int size = 0, c = 0, h = 0, w = 0;
};

// One sample's augmentation: the crop's top-left corner in the padded image
// (0 .. 2 * padding each; padding, padding is the uncropped image) and the flip.
struct Augmentation {
  int dy = 0, dx = 0;
  bool flip = false;
};

// The order of the samples in epoch `epoch`: a permutation of 0..n-1.
std::vector<std::int32_t> epoch_order(int n, std::uint64_t seed, int epoch);

Augmentation augmentation_for(std::uint64_t seed, int epoch, int index, int padding, bool flip);

// dst = the h x w crop at (dy, dx) of src padded by `padding` pixels on each
// side, then mirrored if a.flip. Padding pixels of channel ch take fill[ch].
void crop_flip(const float* src, float* dst, int c, int h, int w, int padding, Augmentation a, const float* fill);

class Loader {
 public:
  // Keeps a reference to d, which must outlive the loader.
  Loader(const Dataset& d, const LoaderOptions& options);

  int batches_per_epoch() const;
  int epoch() const { return epoch_; }

  // Starts epoch `epoch` at batch `first_batch` (resumption mid-epoch).
  void start_epoch(int epoch, int first_batch = 0);
  // The next batch of the current epoch into out (its buffers are reused); false after the last.
  bool next(Batch& out);
  // Batch `batch` of the current epoch, in any order.
  void fill(int batch, Batch& out) const;

 private:
  const Dataset& data_;
  LoaderOptions opt_;
  std::vector<float> pad_values_;  // per channel: a black pixel after the dataset's normalisation
  std::vector<std::int32_t> order_;
  int epoch_ = 0, next_batch_ = 0;
};

}  // namespace lpsim::data
