// Data sets: IDX pairs, the real Fashion-MNIST, subsets and normalisation.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "data/dataset.hpp"
#include "fixtures.hpp"

using namespace lpsim::data;
using namespace fixtures;

namespace {
// n images of h x w with pixel(i, k) and labels i % classes, as IDX files in dir.
void write_idx_pair(const TempDir& dir, const std::string& prefix, int n, int h, int w, int classes, bool gz) {
  Bytes img, lab;
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < h * w; ++k) img.push_back(pixel(i, k));
    lab.push_back(std::uint8_t(i % classes));
  }
  const Bytes fi = idx({std::uint32_t(n), std::uint32_t(h), std::uint32_t(w)}, img), fl = idx({std::uint32_t(n)}, lab);
  const std::string ext = gz ? ".gz" : "";
  write_file(dir / (prefix + "-images-idx3-ubyte" + ext), gz ? gzip(fi) : fi);
  write_file(dir / (prefix + "-labels-idx1-ubyte" + ext), gz ? gzip(fl) : fl);
}

Dataset tiny(int n, int c, int h, int w) {
  Dataset d;
  d.n = n, d.c = c, d.h = h, d.w = w, d.num_classes = 3, d.name = "tiny";
  for (std::size_t k = 0; k < std::size_t(n) * c * h * w; ++k) d.images.push_back(float(k % 11) / 10.0f);
  for (int i = 0; i < n; ++i) d.labels.push_back(i % 3);
  return d;
}
}  // namespace

TEST_CASE("Fashion-MNIST layout: gzip or raw files, pixels scaled to [0, 1]") {
  TempDir dir;
  write_idx_pair(dir, "train", 5, 28, 28, 10, true);
  write_idx_pair(dir, "t10k", 3, 28, 28, 10, false);
  const Dataset train = load_fashion_mnist(Split::Train, dir.path.string());
  CHECK((train.n == 5 && train.c == 1 && train.h == 28 && train.w == 28 && train.num_classes == 10));
  CHECK(train.name == "fashion-mnist/train");
  CHECK(train.labels == std::vector<std::int32_t>{0, 1, 2, 3, 4});
  for (int i = 0; i < 5; ++i)
    for (int k = 0; k < 784; ++k) REQUIRE(train.image(i)[k] == float(pixel(i, k)) / 255.0f);
  CHECK(train.norm.empty());
  const Dataset test = load_fashion_mnist(Split::Test, dir.path.string());
  CHECK(test.n == 3);
  CHECK(test.name == "fashion-mnist/test");
}

TEST_CASE("IDX data set errors name the path and what was expected") {
  TempDir dir;
  SUBCASE("directory without the files") {
    const std::string msg = error_of([&] { load_fashion_mnist(Split::Train, dir.path.string()); });
    CHECK(contains(msg, dir / "train-images-idx3-ubyte.gz"));
    CHECK(contains(msg, "expected the Fashion-MNIST training images"));
    CHECK(contains(msg, "dataset-fashion-mnist"));
    CHECK(contains(msg, "found no such file (nor " + (dir / "train-images-idx3-ubyte") + ")"));
  }
  SUBCASE("label count differs from image count") {
    write_idx_pair(dir, "a", 4, 2, 2, 10, false);
    write_idx_pair(dir, "b", 3, 2, 2, 10, false);
    const std::string msg = error_of([&] {
      load_idx_dataset(dir / "a-images-idx3-ubyte", dir / "b-labels-idx1-ubyte", "x", 10);
    });
    CHECK(contains(msg, (dir / "b-labels-idx1-ubyte") + ": expected 4 labels, one per image of " + (dir / "a-images-idx3-ubyte") +
                            ", found 3"));
  }
  SUBCASE("label beyond the classes") {
    write_idx_pair(dir, "a", 6, 2, 2, 6, false);
    CHECK(contains(error_of([&] { load_idx_dataset(dir / "a-images-idx3-ubyte", dir / "a-labels-idx1-ubyte", "x", 5); }),
                   (dir / "a-labels-idx1-ubyte") + ": expected labels 0..4, found 5 at index 5"));
  }
  SUBCASE("labels file given as images") {
    write_idx_pair(dir, "a", 2, 2, 2, 10, false);
    CHECK(contains(error_of([&] { load_idx_dataset(dir / "a-labels-idx1-ubyte", dir / "a-labels-idx1-ubyte", "x", 10); }),
                   (dir / "a-labels-idx1-ubyte") + ": expected 3 IDX dimensions, found 1 (2)"));
  }
  SUBCASE("Fashion-MNIST of the wrong image size") {
    write_idx_pair(dir, "train", 2, 32, 32, 10, true);
    CHECK(contains(error_of([&] { load_fashion_mnist(Split::Train, dir.path.string()); }),
                   (dir / "train-images-idx3-ubyte.gz") + ": expected 28x28 Fashion-MNIST images, found 32x32"));
  }
}

TEST_CASE("the installed Fashion-MNIST loads with its known shape and balanced classes") {
  if (!std::filesystem::exists(kFashionMnistDir)) {
    MESSAGE("skipped: " << kFashionMnistDir << " is absent (Debian package dataset-fashion-mnist)");
    return;
  }
  const Dataset train = load_fashion_mnist(Split::Train), test = load_fashion_mnist(Split::Test);
  CHECK((train.n == 60000 && test.n == 10000));
  CHECK((train.c == 1 && train.h == 28 && train.w == 28 && train.num_classes == 10));
  CHECK(train.images.size() == 60000u * 784u);
  CHECK(class_counts(train) == std::vector<int>(10, 6000));
  CHECK(class_counts(test) == std::vector<int>(10, 1000));
  const Normalization s = channel_stats(train);
  // The widely quoted Fashion-MNIST statistics: mean 0.2860, std 0.3530.
  CHECK(s.mean[0] == doctest::Approx(0.2860).epsilon(1e-3));
  CHECK(s.std[0] == doctest::Approx(0.3530).epsilon(1e-3));
}

TEST_CASE("subset and random_subset copy whole samples") {
  const Dataset d = tiny(10, 2, 3, 3);
  const Dataset s = subset(d, 4, 3);
  CHECK(s.n == 3);
  CHECK(s.labels == std::vector<std::int32_t>{1, 2, 0});
  CHECK(std::equal(s.images.begin(), s.images.end(), d.image(4)));
  CHECK(s.name == "tiny[4:7]");
  CHECK_THROWS_AS(subset(d, 8, 3), std::out_of_range);
  CHECK(subset(d, 10, 0).n == 0);

  const Dataset r = random_subset(d, 4, 7), again = random_subset(d, 4, 7);
  CHECK(r.n == 4);
  CHECK(r.images == again.images);
  CHECK(r.labels == again.labels);
  // Each chosen sample is some sample of d, in increasing index order.
  int last = -1;
  for (int k = 0; k < r.n; ++k) {
    int found = -1;
    for (int i = last + 1; i < d.n && found < 0; ++i)
      if (std::equal(r.image(k), r.image(k) + r.sample_size(), d.image(i)) && r.labels[k] == d.labels[i]) found = i;
    REQUIRE(found > last);
    last = found;
  }
  CHECK(random_subset(d, 10, 3).images == d.images);
  CHECK_THROWS_AS(random_subset(d, 11, 3), std::out_of_range);
}

TEST_CASE("channel_stats and normalize: per channel, recorded, applied once") {
  Dataset d = tiny(4, 2, 2, 2);
  // Channel 0 all 0.25, channel 1 alternating 0 and 1.
  for (int i = 0; i < d.n; ++i)
    for (int k = 0; k < 4; ++k) d.image(i)[k] = 0.25f, d.image(i)[4 + k] = float(k % 2);
  const Normalization s = channel_stats(d);
  CHECK(s.mean == std::vector<float>{0.25f, 0.5f});
  CHECK(s.std == std::vector<float>{0.0f, 0.5f});
  CHECK_THROWS_AS(normalize(d, s), std::invalid_argument);  // zero std

  const Normalization given{{0.25f, 0.5f}, {0.5f, 0.5f}};
  normalize(d, given);
  CHECK(d.image(3)[0] == 0.0f);
  CHECK(d.image(3)[4] == -1.0f);
  CHECK(d.image(3)[5] == 1.0f);
  CHECK(d.norm.mean == given.mean);
  CHECK_THROWS_AS(normalize(d, given), std::invalid_argument);  // already normalised
  Dataset other = tiny(1, 3, 1, 1);
  CHECK_THROWS_AS(normalize(other, given), std::invalid_argument);  // channel count
}
