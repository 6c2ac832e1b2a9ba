// CIFAR-10/100 binary files written by the test and read back; size and label errors.
#include <doctest/doctest.h>

#include <filesystem>

#include "data/cifar.hpp"
#include "data/dataset.hpp"
#include "fixtures.hpp"

using namespace lpsim::data;
using namespace fixtures;

namespace {
void check_pixels(const CifarRecords& r) {
  for (int i = 0; i < r.n; ++i)
    for (int k = 0; k < kCifarPixels; k += 97) REQUIRE(r.pixels[std::size_t(i) * kCifarPixels + k] == pixel(i, k));
}
}  // namespace

TEST_CASE("CIFAR-10 records read back exactly") {
  TempDir dir;
  write_file(dir / "b.bin", cifar({3, 0, 9}));
  const CifarRecords r = read_cifar_file(dir / "b.bin", CifarKind::Cifar10);
  CHECK(r.n == 3);
  CHECK(r.labels == std::vector<std::int32_t>{3, 0, 9});
  CHECK(r.coarse.empty());
  check_pixels(r);
}

TEST_CASE("CIFAR-100 records carry coarse then fine labels") {
  TempDir dir;
  write_file(dir / "train.bin", cifar({99, 5}, {19, 1}));
  const CifarRecords r = read_cifar_file(dir / "train.bin", CifarKind::Cifar100);
  CHECK(r.n == 2);
  CHECK(r.labels == std::vector<std::int32_t>{99, 5});
  CHECK(r.coarse == std::vector<std::int32_t>{19, 1});
  check_pixels(r);
}

TEST_CASE("CIFAR errors name the path and what was expected") {
  TempDir dir;
  const std::string p = dir / "x.bin";
  SUBCASE("missing") {
    CHECK(contains(error_of([&] { read_cifar_file(p, CifarKind::Cifar10); }),
                   p + ": expected a CIFAR-10 binary file, found no such file"));
  }
  SUBCASE("not a whole number of records") {
    Bytes b = cifar({1, 2});
    b.pop_back();
    CHECK(contains(error_of([&] { write_file(p, b), read_cifar_file(p, CifarKind::Cifar10); }),
                   p + ": expected a CIFAR-10 binary file: a positive multiple of 3073 bytes (1 label + 3072 pixels per "
                       "image), found 6145 bytes (1 records and 3072 bytes left over)"));
  }
  SUBCASE("a CIFAR-10 file read as CIFAR-100") {
    write_file(p, cifar({1, 2}));
    CHECK(contains(error_of([&] { read_cifar_file(p, CifarKind::Cifar100); }),
                   p + ": expected a CIFAR-100 binary file: a positive multiple of 3074 bytes (coarse and fine label"));
  }
  SUBCASE("empty") {
    write_file(p, {});
    CHECK(contains(error_of([&] { read_cifar_file(p, CifarKind::Cifar10); }), p + ": expected a CIFAR-10 binary file: a positive multiple"));
  }
  SUBCASE("label out of range") {
    write_file(p, cifar({1, 10}));
    CHECK(contains(error_of([&] { read_cifar_file(p, CifarKind::Cifar10); }), p + ": expected labels 0..9, found 10 in record 1"));
  }
  SUBCASE("fine label out of range") {
    write_file(p, cifar({100}, {0}));
    CHECK(contains(error_of([&] { read_cifar_file(p, CifarKind::Cifar100); }), p + ": expected fine labels 0..99, found 100 in record 0"));
  }
  SUBCASE("more records than any CIFAR file holds (a gzip of zeros inflating without end)") {
    write_file(p, gzip(Bytes(std::size_t(kCifarMaxRecords + 1) * 3073, 0)));
    CHECK(contains(error_of([&] { read_cifar_file(p, CifarKind::Cifar10); }),
                   p + ": expected a CIFAR-10 binary file of at most 50000 records, found more"));
  }
  SUBCASE("exactly the most records a file may hold") {
    write_file(p, gzip(Bytes(std::size_t(kCifarMaxRecords) * 3073, 0)));
    CHECK(read_cifar_file(p, CifarKind::Cifar10).n == kCifarMaxRecords);
  }
  SUBCASE("coarse label out of range") {
    write_file(p, cifar({0, 0}, {0, 20}));
    CHECK(contains(error_of([&] { read_cifar_file(p, CifarKind::Cifar100); }), p + ": expected coarse labels 0..19, found 20 in record 1"));
  }
}

TEST_CASE("load_cifar10 joins the five training batches in order") {
  TempDir dir;
  for (int b = 1; b <= 5; ++b) write_file(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar({b, b + 1}));
  write_file(dir / "test_batch.bin", cifar({7}));

  const Dataset train = load_cifar10(dir.path.string(), Split::Train);
  CHECK(train.n == 10);
  CHECK((train.c == 3 && train.h == 32 && train.w == 32 && train.num_classes == 10));
  CHECK(train.labels == std::vector<std::int32_t>{1, 2, 2, 3, 3, 4, 4, 5, 5, 6});
  CHECK(train.images.size() == 10u * 3072u);
  // Batch 2's second image is record 1 of its file: pixel bytes scaled by 1/255.
  CHECK(train.image(3)[100] == float(pixel(1, 100)) / 255.0f);
  CHECK(train.name == "cifar10/train");

  const Dataset test = load_cifar10(dir.path.string(), Split::Test);
  CHECK(test.n == 1);
  CHECK(test.labels == std::vector<std::int32_t>{7});
  CHECK(test.image(0)[3071] == float(pixel(0, 3071)) / 255.0f);
}

TEST_CASE("load_cifar10 finds the archive's subdirectory and names a missing batch") {
  TempDir dir;
  std::filesystem::create_directories(dir.path / "cifar-10-batches-bin");
  const std::string sub = dir / "cifar-10-batches-bin";
  write_file(sub + "/test_batch.bin", cifar({4}));
  CHECK(load_cifar10(dir.path.string(), Split::Test).labels == std::vector<std::int32_t>{4});
  CHECK(contains(error_of([&] { load_cifar10(dir.path.string(), Split::Train); }),
                 sub + "/data_batch_1.bin: expected a CIFAR-10 binary file, found no such file"));
}

TEST_CASE("load_cifar100 with fine or coarse labels") {
  TempDir dir;
  write_file(dir / "train.bin", cifar({42, 7, 99}, {3, 11, 19}));
  write_file(dir / "test.bin", cifar({0}, {0}));
  const Dataset fine = load_cifar100(dir.path.string(), Split::Train);
  CHECK(fine.num_classes == 100);
  CHECK(fine.labels == std::vector<std::int32_t>{42, 7, 99});
  const Dataset coarse = load_cifar100(dir.path.string(), Split::Train, Cifar100Labels::Coarse);
  CHECK(coarse.num_classes == 20);
  CHECK(coarse.labels == std::vector<std::int32_t>{3, 11, 19});
  CHECK(coarse.images == fine.images);
  CHECK(load_cifar100(dir.path.string(), Split::Test).n == 1);
}
