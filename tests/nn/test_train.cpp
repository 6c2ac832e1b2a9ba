// End-to-end training on Fashion-MNIST (skipped when the data set is absent):
// it learns, it is bit-identical for any thread count, and low precision is
// accounted in BitOPs.
#include <doctest/doctest.h>
#include <omp.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "nn/checkpoint.hpp"

#include "nn/train.hpp"

using namespace lpsim;

namespace {

bool have_data() { return std::filesystem::exists("/usr/share/datasets/fashion-mnist"); }

nn::TrainConfig small(const std::string& arch) {
  nn::TrainConfig c;
  c.model.arch = arch;
  c.epochs = 2;
  c.batch = 64;
  c.train_subset = 2000;
  c.test_subset = 1000;
  c.schedule.lr = 0.05;
  c.seed = 3;
  return c;
}

}  // namespace

TEST_CASE("LeNet-5 learns Fashion-MNIST and is bit-identical for 1 and 2 threads") {
  if (!have_data()) {
    MESSAGE("Fashion-MNIST not installed: skipped");
    return;
  }
  nn::TrainConfig c = small("lenet5");
  c.precision.w = "int8/minmax/channel";
  c.precision.a = "int8/minmax/tensor";
  c.precision.e = "int8/minmax/tensor";
  omp_set_num_threads(1);
  const auto one = nn::train(c);
  omp_set_num_threads(2);
  const auto two = nn::train(c);
  REQUIRE(one.size() == 2);
  CHECK(one.back().test_acc > 0.6);  // chance is 0.1
  CHECK(one.back().train_loss < one.front().train_loss);
  for (std::size_t e = 0; e < one.size(); ++e) {
    CHECK(one[e].train_loss == two[e].train_loss);  // exact equality: same bits
    CHECK(one[e].test_acc == two[e].test_acc);
  }
  // int8 in the middle layers: fewer BitOPs than the fp32 run of the same work.
  CHECK(one.back().bitops < 0.5 * one.back().bitops_fp32);
}

TEST_CASE("ResNet-20 with every format fp32 learns a Fashion-MNIST subset") {
  if (!have_data()) return;
  nn::TrainConfig c = small("resnet20");  // no formats: every product on the fp32 MAC model
  c.train_subset = 3000;
  const auto h = nn::train(c);
  CHECK(h.back().train_loss < 0.8 * h.front().train_loss);
  CHECK(h.back().test_acc > 0.65);  // 75-76 % for seeds 3 and 4 (chance 10 %); the full run reaches 93.8 %
  CHECK(h.back().bitops == h.back().bitops_fp32);
}

TEST_CASE("a ResNet with Range BatchNorm (SBM's option) learns; model.norm is checked") {
  nn::TrainConfig c = small("resnet8");
  c.model.norm = "rangebn";
  CHECK_THROWS_WITH_AS(nn::check_config(c), doctest::Contains("model.norm: unknown normalisation \"rangebn\""),
                       std::invalid_argument);
  c.model.arch = "lenet5";
  c.model.norm = "range";
  CHECK_THROWS_WITH_AS(nn::check_config(c), doctest::Contains("lenet5 has no normalisation layers"),
                       std::invalid_argument);
  if (!have_data()) return;
  c.model.arch = "resnet8";
  c.train_subset = 1024;
  const auto h = nn::train(c);
  CHECK(h.back().train_loss < h.front().train_loss);
  CHECK(h.back().test_acc > 0.4);  // chance is 0.1
}

TEST_CASE("master weights in bf16 with stochastic rounding: stored in bf16 throughout, and it learns") {
  nn::TrainConfig c = small("mlp");
  c.precision.master = "int8/absmax/tensor";
  CHECK_THROWS_WITH_AS(nn::check_config(c), doctest::Contains("precision.master: \"int8/absmax/tensor\" is a scaled"),
                       std::invalid_argument);
  c.precision.master = "bf16";
  c.precision.master_round = "sr";
  CHECK_NOTHROW(nn::check_config(c));
  if (!have_data()) return;
  c.epochs = 1;
  const nn::QuantSpec bf16 = nn::parse_quant("bf16");
  std::size_t values = 0, off_grid = 0;
  nn::TrainHooks hooks;
  hooks.on_end = [&](nn::Model& m) {
    for (nn::Param<float>* p : m.params())
      for (float v : p->value.data) {
        std::vector<float> q{v};
        const std::int64_t one = 1;
        nn::quantize_tensor(bf16, q.data(), q.data(), {&one, 1}, 0, {});
        off_grid += q[0] != v;
        ++values;
      }
  };
  const auto h = nn::train(c, hooks);
  CHECK(values > 100000);
  CHECK(off_grid == 0);
  CHECK(h.back().test_acc > 0.6);  // chance is 0.1
}

TEST_CASE("a diverging run stops with an error naming the loss") {
  if (!have_data()) return;
  nn::TrainConfig c = small("mlp");
  c.epochs = 1;
  c.schedule.lr = 1e6;
  c.optimizer.weight_decay = 0;
  CHECK_THROWS_WITH_AS(nn::train(c), doctest::Contains("loss"), std::runtime_error);
  // The report says where: epoch, batch, the learning rate and the parameter of largest magnitude.
  CHECK_THROWS_WITH_AS(nn::train(c), doctest::Contains("training diverged in epoch 1, batch "), nn::Diverged);
  CHECK_THROWS_WITH_AS(nn::train(c), doctest::Contains("schedule.lr now "), nn::Diverged);
  CHECK_THROWS_WITH_AS(nn::train(c), doctest::Contains(".weight"), nn::Diverged);
}

TEST_CASE("a checkpoint round-trips, and any damaged byte is refused by its checksum") {
  const auto dir = std::filesystem::temp_directory_path() / ("lpsim_ckpt_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "a.ckpt").string();
  nn::TrainState s;
  s.epochs_done = 1;
  s.iteration = 10;
  s.history.resize(1);
  s.history[0].epoch = 1;
  s.history[0].test_acc = 0.5;
  s.arrays.push_back({"fc.weight", {2, 3}, {1, 2, 3, 4, 5, 6}});
  s.counters.emplace_back("fc.iteration", 10);
  s.policy = {0.25};
  nn::save_checkpoint(path, s);
  const nn::TrainState back = nn::load_checkpoint(path);
  CHECK(back.iteration == 10);
  CHECK(back.arrays.at(0).data == s.arrays[0].data);
  CHECK(back.policy == s.policy);
  const auto size = std::filesystem::file_size(path);
  for (std::uintmax_t at : {std::uintmax_t(12), size / 2, size - 5, size - 1}) {
    CAPTURE(at);
    std::string bytes;
    {
      std::ifstream in(path, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    bytes[at] ^= 0x10;  // one flipped bit in a weight, a count or the checksum itself
    const std::string bad = (dir / "bad.ckpt").string();
    std::ofstream(bad, std::ios::binary) << bytes;
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(bad), doctest::Contains("fails its checksum"), std::runtime_error);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("bad model names and schedules are clear errors") {
  nn::ModelSpec s;
  s.arch = "resnet21";
  CHECK_THROWS_WITH_AS(nn::make_model(s), doctest::Contains("6n+2"), std::invalid_argument);
  s.arch = "vgg";
  CHECK_THROWS_WITH_AS(nn::make_model(s), doctest::Contains("unknown model \"vgg\""), std::invalid_argument);
  nn::ScheduleConfig sc;
  sc.kind = "linear";
  CHECK_THROWS_WITH_AS(nn::learning_rate(sc, 0, 10), doctest::Contains("\"linear\""), std::invalid_argument);
}

TEST_CASE("scaled formats on fixed-point MACs: codes forward, refused where codes cannot go, naming what is wrong") {
  nn::TrainConfig c;
  c.model.arch = "mlp";
  c.precision.w = "int8/absmax/channel";
  c.precision.mac_fwd = "int8.int32";  // forward on integer codes, rescaled per output channel
  CHECK_NOTHROW(nn::check_config(c));
  c.precision.w = "int8/minmax/channel";  // codes q + zero point need 9 bits
  CHECK_THROWS_WITH_AS(nn::check_config(c), doctest::Contains("W's codes of int8/minmax/channel span [-255, 255]"),
                       std::invalid_argument);
  c.precision.w = "int8/absmax/block32";  // scales change along the reduction
  CHECK_THROWS_WITH_AS(nn::check_config(c), doctest::Contains("scales that change along the reduction"),
                       std::invalid_argument);
  c.precision.w = "int8/absmax/channel";
  c.precision.a = "int8/absmax/channel";  // A's channel is part of the reduction
  CHECK_THROWS_WITH_AS(nn::check_config(c), doctest::Contains("A's format int8/absmax/channel"), std::invalid_argument);
  c.precision.a = "mxfp8e4m3";
  CHECK_THROWS_WITH_AS(nn::check_config(c), doctest::Contains("has no integer codes"), std::invalid_argument);
  c.precision.a = "";
  // Backward products take scaled values only: a fixed-point MAC there is refused.
  c.precision.e = "int8/minmax/tensor";
  c.precision.mac_bwd_weight = "acc=fx32.8,out=fp32";
  CHECK_THROWS_WITH_AS(nn::check_config(c), doctest::Contains("mac_bwd_weight \"acc=fx32.8"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(nn::check_config(c), doctest::Contains("accumulator fx32.8"), std::invalid_argument);
  c.precision.mac_bwd_weight = "fp16.fp32";  // a float MAC takes the scaled values
  CHECK_NOTHROW(nn::check_config(c));
  c.precision.w = c.precision.e = "";
  c.precision.mac_fwd = c.precision.mac_bwd_data = c.precision.mac_bwd_weight = "int8.int32";  // unquantized tensors read as int8 integers: the user's explicit choice
  CHECK_NOTHROW(nn::check_config(c));
}
