// Data sets in memory as float NCHW images with int32 labels, and the loaders
// that build them from the files on disk.
//
// Pixels are scaled to [0, 1] (byte / 255) by every loader. Normalisation is a
// separate, explicit step so that a test set is normalised with its training
// set's statistics:
//   Dataset train = load_fashion_mnist(Split::Train), test = load_fashion_mnist(Split::Test);
//   Normalization stats = channel_stats(train);     // or given constants
//   normalize(train, stats); normalize(test, stats);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lpsim::data {

enum class Split { Train, Test };

// Per-channel mean and standard deviation; x -> (x - mean) / std.
struct Normalization {
  std::vector<float> mean, std;
  bool empty() const { return mean.empty(); }
};

struct Dataset {
  std::vector<float> images;          // n x c x h x w (NCHW)
  std::vector<std::int32_t> labels;   // n, each in [0, num_classes)
  int n = 0, c = 0, h = 0, w = 0, num_classes = 0;
  std::string name;                   // e.g. "fashion-mnist/train"
  Normalization norm;                 // what normalize() applied; empty: pixels in [0, 1]

  std::size_t sample_size() const { return std::size_t(c) * h * w; }
  const float* image(int i) const { return images.data() + std::size_t(i) * sample_size(); }
  float* image(int i) { return images.data() + std::size_t(i) * sample_size(); }
};

// Debian's dataset-fashion-mnist installs the four gzip IDX files here.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] in dir: 60000 / 10000 images, 1x28x28, 10 classes.
Dataset load_fashion_mnist(Split split, const std::string& dir = kFashionMnistDir);

// Any MNIST-style pair of IDX files (images n x h x w, labels n).
Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path, const std::string& name,
                         int num_classes);

// dir holds data_batch_1..5.bin and test_batch.bin (or is the parent of the
// archive's cifar-10-batches-bin/): 50000 / 10000 images, 3x32x32, 10 classes.
Dataset load_cifar10(const std::string& dir, Split split);

// dir holds train.bin and test.bin (or is the parent of cifar-100-binary/):
// 50000 / 10000 images, 100 fine classes or 20 coarse superclasses.
enum class Cifar100Labels { Fine, Coarse };
Dataset load_cifar100(const std::string& dir, Split split, Cifar100Labels labels = Cifar100Labels::Fine);

// Samples first .. first+count-1 (std::out_of_range when outside the set).
Dataset subset(const Dataset& d, int first, int count);

// count samples chosen at random by seed, kept in their original order.
Dataset random_subset(const Dataset& d, int count, std::uint64_t seed);

// Per-channel mean and population standard deviation over all samples.
Normalization channel_stats(const Dataset& d);

// Applies (x - mean) / std per channel and records it in d.norm.
// std::invalid_argument if d is already normalised or the channel counts differ.
void normalize(Dataset& d, const Normalization& stats);

// Number of samples of each class.
std::vector<int> class_counts(const Dataset& d);

}  // namespace lpsim::data
