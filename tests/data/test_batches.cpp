// Mini-batches: shuffles are seeded permutations, augmentation a pure function
// of (seed, epoch, index), every sample exactly once per epoch.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <stdexcept>

#include "data/batches.hpp"

using namespace lpsim::data;

namespace {
// Sample i's pixels are i * 1000 + position + 1 (never 0, so padding shows).
Dataset numbered(int n, int c, int h, int w) {
  Dataset d;
  d.n = n, d.c = c, d.h = h, d.w = w, d.num_classes = 10, d.name = "numbered";
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < c * h * w; ++k) d.images.push_back(float(i * 1000 + k + 1));
    d.labels.push_back(i % 10);
  }
  return d;
}

// Every batch of one epoch: sample index -> its image as the loader gave it.
std::map<int, std::vector<float>> run_epoch(Loader& l, const Dataset& d, int epoch, std::vector<int>* order = nullptr) {
  std::map<int, std::vector<float>> seen;
  Batch b;
  for (l.start_epoch(epoch); l.next(b);) {
    REQUIRE(b.images.size() == std::size_t(b.size) * d.sample_size());
    REQUIRE((b.c == d.c && b.h == d.h && b.w == d.w));
    for (int k = 0; k < b.size; ++k) {
      const int i = b.indices[k];
      REQUIRE(b.labels[k] == d.labels[i]);
      REQUIRE(seen.count(i) == 0);
      seen[i].assign(b.images.begin() + std::ptrdiff_t(k * d.sample_size()), b.images.begin() + std::ptrdiff_t((k + 1) * d.sample_size()));
      if (order) order->push_back(i);
    }
  }
  return seen;
}
}  // namespace

TEST_CASE("epoch_order is a permutation, fixed by (seed, epoch), new each epoch") {
  for (int n : {0, 1, 2, 17, 1000}) {
    CAPTURE(n);
    std::vector<std::int32_t> p = epoch_order(n, 42, 3);
    CHECK(p == epoch_order(n, 42, 3));
    std::sort(p.begin(), p.end());
    std::vector<std::int32_t> id(static_cast<std::size_t>(n));
    std::iota(id.begin(), id.end(), 0);
    CHECK(p == id);
  }
  CHECK(epoch_order(1000, 42, 3) != epoch_order(1000, 42, 4));
  CHECK(epoch_order(1000, 42, 3) != epoch_order(1000, 43, 3));
}

TEST_CASE("each sample exactly once per epoch; last batch kept or dropped") {
  const Dataset d = numbered(23, 1, 2, 2);
  for (bool drop : {false, true})
    for (int bs : {1, 5, 23, 40}) {
      CAPTURE(drop);
      CAPTURE(bs);
      Loader l(d, {.batch_size = bs, .seed = 9, .drop_last = drop});
      const int full = 23 / bs, expected_batches = drop ? full : (23 + bs - 1) / bs;
      CHECK(l.batches_per_epoch() == expected_batches);
      const auto seen = run_epoch(l, d, 0);
      CHECK(int(seen.size()) == (drop ? full * bs : 23));
      for (const auto& [i, img] : seen) REQUIRE(std::equal(img.begin(), img.end(), d.image(i)));
    }
}

TEST_CASE("epoch e is the same whatever ran before, and resumes mid-epoch") {
  const Dataset d = numbered(50, 1, 3, 3);
  const LoaderOptions o{.batch_size = 8, .seed = 5, .crop_padding = 1, .flip = true};
  Loader a(d, o), b(d, o);
  std::vector<int> order_a, order_b, order_0;
  run_epoch(a, d, 0, &order_0);
  run_epoch(a, d, 1);
  const auto imgs_a = run_epoch(a, d, 2, &order_a);
  const auto imgs_b = run_epoch(b, d, 2, &order_b);  // fresh loader, straight to epoch 2
  CHECK(order_a == order_b);
  CHECK(imgs_a == imgs_b);
  CHECK(order_a != order_0);

  // Resume at batch 3 of epoch 2: the same batches as an uninterrupted epoch.
  Batch x, y;
  b.start_epoch(2, 3);
  REQUIRE(b.next(x));
  a.start_epoch(2);
  a.fill(3, y);
  CHECK(x.indices == y.indices);
  CHECK(x.images == y.images);
}

TEST_CASE("shuffle off: dataset order every epoch") {
  const Dataset d = numbered(7, 1, 1, 1);
  Loader l(d, {.batch_size = 3, .shuffle = false});
  std::vector<int> order;
  run_epoch(l, d, 4, &order);
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("crop_flip: identity at the centre, shifts with padding, flip twice is identity") {
  const Dataset d = numbered(1, 2, 3, 4);
  const float fill[2] = {-1.0f, -2.0f};
  const std::size_t size = d.sample_size();
  std::vector<float> once(size), twice(size);

  crop_flip(d.image(0), once.data(), 2, 3, 4, 2, {2, 2, false}, fill);
  CHECK(std::equal(once.begin(), once.end(), d.image(0)));

  crop_flip(d.image(0), once.data(), 2, 3, 4, 0, {0, 0, true}, fill);
  CHECK(once[0] == d.image(0)[3]);  // row 0 mirrored
  CHECK(once[4 * 3 + 3] == d.image(0)[12]);  // channel 1, row 0, last column <- first
  crop_flip(once.data(), twice.data(), 2, 3, 4, 0, {0, 0, true}, fill);
  CHECK(std::equal(twice.begin(), twice.end(), d.image(0)));

  // Offset (0, 0) with padding 1: the image moves down-right by one, black fills row 0 and column 0.
  crop_flip(d.image(0), once.data(), 2, 3, 4, 1, {0, 0, false}, fill);
  CHECK(once[0] == -1.0f);
  CHECK(once[3] == -1.0f);
  CHECK(once[4] == -1.0f);
  CHECK(once[5] == d.image(0)[0]);
  CHECK(once[11] == d.image(0)[6]);
  CHECK(once[12] == -2.0f);
  CHECK(once[12 + 5] == d.image(0)[12]);
}

TEST_CASE("augmentation: a pure function of (seed, epoch, index), whatever the batch size") {
  const Dataset d = numbered(40, 3, 6, 6);
  Loader small(d, {.batch_size = 3, .seed = 11, .crop_padding = 2, .flip = true});
  Loader large(d, {.batch_size = 16, .seed = 11, .crop_padding = 2, .flip = true});
  const auto s = run_epoch(small, d, 1), l = run_epoch(large, d, 1);
  CHECK(s == l);
  std::vector<float> expect(d.sample_size());
  const float zero[3] = {0, 0, 0};
  int changed = 0;
  for (const auto& [i, img] : s) {
    crop_flip(d.image(i), expect.data(), 3, 6, 6, 2, augmentation_for(11, 1, i, 2, true), zero);
    REQUIRE(img == expect);
    changed += !std::equal(img.begin(), img.end(), d.image(i));
  }
  CHECK(changed > 20);  // 1 in 50 choices is the identity
  CHECK(run_epoch(small, d, 2) != s);
}

TEST_CASE("augmentation choices cover every offset and flip about half the time") {
  std::vector<int> dy(9), dx(9);
  int flips = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const Augmentation a = augmentation_for(3, 0, i, 4, true);
    REQUIRE((a.dy >= 0 && a.dy <= 8 && a.dx >= 0 && a.dx <= 8));
    ++dy[a.dy], ++dx[a.dx], flips += a.flip;
  }
  for (int k = 0; k < 9; ++k) CHECK((dy[k] > n / 9 * 0.8 && dx[k] > n / 9 * 0.8));
  CHECK((flips > n * 0.45 && flips < n * 0.55));
  const Augmentation none = augmentation_for(3, 0, 5, 0, false);
  CHECK((none.dy == 0 && none.dx == 0 && !none.flip));
}

TEST_CASE("padding is black after normalisation") {
  Dataset d = numbered(1, 2, 2, 2);
  d.norm = {{0.5f, 0.25f}, {0.5f, 0.25f}};
  Loader l(d, {.batch_size = 1, .shuffle = false, .crop_padding = 3});
  Batch b;
  // Find an epoch whose crop puts the whole image out of view in at least one corner pixel.
  bool saw_fill = false;
  for (int e = 0; e < 20 && !saw_fill; ++e) {
    l.start_epoch(e);
    REQUIRE(l.next(b));
    for (int k = 0; k < 4; ++k) saw_fill |= b.images[k] == -1.0f;
    for (int k = 4; k < 8; ++k) REQUIRE((b.images[k] == -1.0f || b.images[k] > 4.0f));
  }
  CHECK(saw_fill);
}

TEST_CASE("bad loader options") {
  const Dataset d = numbered(3, 1, 1, 1);
  CHECK_THROWS_AS(static_cast<void>(Loader(d, {.batch_size = 0})), std::invalid_argument);
  CHECK_THROWS_AS(static_cast<void>(Loader(d, {.crop_padding = -1})), std::invalid_argument);
  Loader l(d, {.batch_size = 2});
  Batch b;
  CHECK_THROWS_AS(l.fill(2, b), std::out_of_range);
}
