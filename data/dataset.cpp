#include "data/dataset.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "data/cifar.hpp"
#include "data/counter_random.hpp"
#include "data/error.hpp"
#include "data/idx.hpp"

namespace lpsim::data {
namespace fs = std::filesystem;
namespace {

constexpr std::uint32_t kMaxImageSide = 1 << 15;  // far above any data set; keeps h*w*c in range

// Exact, the same on every machine: bytes 0..255 map to [0, 1].
void append_scaled(std::vector<float>& out, const std::uint8_t* b, std::size_t count) {
  const std::size_t at = out.size();
  out.resize(at + count);
  for (std::size_t i = 0; i < count; ++i) out[at + i] = float(b[i]) / 255.0f;
}

// "name.gz" if present, else "name"; the error names both.
std::string gz_or_raw(const std::string& dir, const std::string& name, const std::string& expected) {
  const std::string gz = (fs::path(dir) / (name + ".gz")).string(), raw = (fs::path(dir) / name).string();
  std::error_code ec;
  if (fs::exists(gz, ec)) return gz;
  if (fs::exists(raw, ec)) return raw;
  fail(gz, expected, "no such file (nor " + raw + ")");
}

// The directory itself, or its subdirectory as the official archive unpacks.
std::string cifar_dir(const std::string& dir, const char* probe, const char* archive_subdir) {
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / probe, ec) && fs::exists(fs::path(dir) / archive_subdir / probe, ec))
    return (fs::path(dir) / archive_subdir).string();
  return dir;
}

Dataset from_cifar(const std::string& dir, const std::vector<std::string>& files, CifarKind kind, bool coarse,
                   const std::string& name) {
  Dataset d;
  d.c = kCifarChannels, d.h = d.w = kCifarSide, d.name = name;
  d.num_classes = kind == CifarKind::Cifar10 ? 10 : coarse ? 20 : 100;
  for (const std::string& f : files) {
    const CifarRecords r = read_cifar_file((fs::path(dir) / f).string(), kind);
    append_scaled(d.images, r.pixels.data(), r.pixels.size());
    const std::vector<std::int32_t>& l = coarse ? r.coarse : r.labels;
    d.labels.insert(d.labels.end(), l.begin(), l.end());
    d.n += r.n;
  }
  return d;
}

Dataset copy_samples(const Dataset& d, const std::vector<std::int32_t>& which, std::string name) {
  Dataset s;
  s.n = static_cast<int>(which.size()), s.c = d.c, s.h = d.h, s.w = d.w, s.num_classes = d.num_classes;
  s.name = std::move(name), s.norm = d.norm;
  s.images.resize(which.size() * d.sample_size());
  for (std::size_t k = 0; k < which.size(); ++k) {
    std::copy_n(d.image(which[k]), d.sample_size(), s.image(static_cast<int>(k)));
    s.labels.push_back(d.labels[which[k]]);
  }
  return s;
}

}  // namespace

Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path, const std::string& name,
                         int num_classes) {
  const IdxArray img = read_idx(images_path, 3), lab = read_idx(labels_path, 1);
  if (img.dims[0] == 0 || img.dims[0] > INT_MAX) fail(images_path, "1 to 2^31-1 images", std::to_string(img.dims[0]));
  if (lab.dims[0] != img.dims[0])
    fail(labels_path, std::to_string(img.dims[0]) + " labels, one per image of " + images_path,
         std::to_string(lab.dims[0]));
  for (int i : {1, 2})
    if (img.dims[i] == 0 || img.dims[i] > kMaxImageSide)
      fail(images_path, "image sides 1.." + std::to_string(kMaxImageSide),
           std::to_string(img.dims[1]) + "x" + std::to_string(img.dims[2]));
  Dataset d;
  d.n = static_cast<int>(img.dims[0]), d.c = 1, d.h = int(img.dims[1]), d.w = int(img.dims[2]);
  d.num_classes = num_classes, d.name = name;
  for (std::size_t i = 0; i < lab.values.size(); ++i)
    if (lab.values[i] >= num_classes)
      fail(labels_path, "labels 0.." + std::to_string(num_classes - 1),
           std::to_string(lab.values[i]) + " at index " + std::to_string(i));
  d.labels.assign(lab.values.begin(), lab.values.end());
  append_scaled(d.images, img.values.data(), img.values.size());
  return d;
}

Dataset load_fashion_mnist(Split split, const std::string& dir) {
  const bool train = split == Split::Train;
  const std::string prefix = train ? "train" : "t10k", set = train ? "training" : "test";
  const std::string hint = " (gzip or raw IDX; Debian package dataset-fashion-mnist)";
  const std::string images = gz_or_raw(dir, prefix + "-images-idx3-ubyte", "the Fashion-MNIST " + set + " images" + hint);
  const std::string labels = gz_or_raw(dir, prefix + "-labels-idx1-ubyte", "the Fashion-MNIST " + set + " labels" + hint);
  Dataset d = load_idx_dataset(images, labels, "fashion-mnist/" + std::string(train ? "train" : "test"), 10);
  if (d.h != 28 || d.w != 28) fail(images, "28x28 Fashion-MNIST images", std::to_string(d.h) + "x" + std::to_string(d.w));
  return d;
}

Dataset load_cifar10(const std::string& dir, Split split) {
  const std::string root = cifar_dir(dir, "test_batch.bin", "cifar-10-batches-bin");
  if (split == Split::Test) return from_cifar(root, {"test_batch.bin"}, CifarKind::Cifar10, false, "cifar10/test");
  return from_cifar(root, {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
                    CifarKind::Cifar10, false, "cifar10/train");
}

Dataset load_cifar100(const std::string& dir, Split split, Cifar100Labels labels) {
  const std::string root = cifar_dir(dir, "test.bin", "cifar-100-binary");
  const bool train = split == Split::Train, coarse = labels == Cifar100Labels::Coarse;
  return from_cifar(root, {train ? "train.bin" : "test.bin"}, CifarKind::Cifar100, coarse,
                    std::string("cifar100") + (coarse ? "-coarse/" : "/") + (train ? "train" : "test"));
}

Dataset subset(const Dataset& d, int first, int count) {
  if (first < 0 || count < 0 || first > d.n - count)
    throw std::out_of_range("subset [" + std::to_string(first) + ", +" + std::to_string(count) + ") of " + d.name +
                            " with " + std::to_string(d.n) + " samples");
  std::vector<std::int32_t> which(count);
  for (int k = 0; k < count; ++k) which[k] = first + k;
  return copy_samples(d, which, d.name + "[" + std::to_string(first) + ":" + std::to_string(first + count) + "]");
}

Dataset random_subset(const Dataset& d, int count, std::uint64_t seed) {
  if (count < 0 || count > d.n)
    throw std::out_of_range("random subset of " + std::to_string(count) + " from " + d.name + " with " +
                            std::to_string(d.n) + " samples");
  std::vector<std::int32_t> which = random_permutation(d.n, seed, RandomStream::Subset, 0);
  which.resize(count);
  std::sort(which.begin(), which.end());
  return copy_samples(d, which,
                      d.name + "[random " + std::to_string(count) + ", seed " + std::to_string(seed) + "]");
}

Normalization channel_stats(const Dataset& d) {
  // Two passes in double: the variance does not suffer from cancellation.
  const std::size_t plane = std::size_t(d.h) * d.w, per_channel = plane * d.n;
  Normalization s;
  for (int ch = 0; ch < d.c; ++ch) {
    double sum = 0, sq = 0;
    for (int i = 0; i < d.n; ++i)
      for (const float* p = d.image(i) + ch * plane, *e = p + plane; p < e; ++p) sum += *p;
    const double mean = per_channel ? sum / double(per_channel) : 0;
    for (int i = 0; i < d.n; ++i)
      for (const float* p = d.image(i) + ch * plane, *e = p + plane; p < e; ++p) sq += (*p - mean) * (*p - mean);
    s.mean.push_back(float(mean));
    s.std.push_back(float(per_channel ? std::sqrt(sq / double(per_channel)) : 0));
  }
  return s;
}

void normalize(Dataset& d, const Normalization& stats) {
  if (!d.norm.empty()) throw std::invalid_argument(d.name + " is already normalised");
  if (stats.mean.size() != std::size_t(d.c) || stats.std.size() != std::size_t(d.c))
    throw std::invalid_argument("normalisation of " + d.name + " needs " + std::to_string(d.c) + " means and stds");
  for (float s : stats.std)
    if (!(s > 0)) throw std::invalid_argument("normalisation of " + d.name + " needs positive stds");
  const std::size_t plane = std::size_t(d.h) * d.w;
  for (int i = 0; i < d.n; ++i)
    for (int ch = 0; ch < d.c; ++ch)
      for (float *p = d.image(i) + ch * plane, *e = p + plane; p < e; ++p) *p = (*p - stats.mean[ch]) / stats.std[ch];
  d.norm = stats;
}

std::vector<int> class_counts(const Dataset& d) {
  std::vector<int> counts(std::size_t(std::max(d.num_classes, 0)), 0);
  for (std::int32_t l : d.labels) ++counts.at(std::size_t(l));
  return counts;
}

}  // namespace lpsim::data
