// Training throughput (images/s) of a model on synthetic 28x28 images, for
// three precision configurations, next to PyTorch's CPU training of the same
// ResNet-20 measured in the same run (bench/torch_resnet20.py) when
// Debian's python3-torch is installed.
//
// Usage: bench_train [--arch resnet20] [--batch 128] [--threads 2] [--steps 4]
//                    [--warmup 1] [--configs fp32,int8,fp8] [--no-torch] [--layers]
// A step is forward, loss, backward and the SGD update, as in nn::train.
// --layers prints where the time of one fp32 step goes, block by block.
// The fp8 configuration (e4m3/e5m2 on h800.fp8) runs the tensor-core fused
// steps (sim/fused_lanes_avx512.cpp on AVX-512, else the general path): about
// a tenth of the fp32 rate; "--configs fp32,int8" leaves it out.
// Timings on a shared machine are noisy: compare configurations within one
// run, repeat, and use the weight digest to check that results are unchanged.
#include <fmt/core.h>
#include <malloc.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "arith/isa.hpp"
#include "nn/init.hpp"
#include "nn/model.hpp"
#include "nn/models.hpp"
#include "nn/optim.hpp"
#include "nn/train.hpp"

#ifndef LPSIM_BENCH_DIR
#define LPSIM_BENCH_DIR "bench"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using lpsim::nn::Tensor;

struct Options {
  std::string arch = "resnet20";
  int batch = 128, threads = 2, steps = 4, warmup = 1;
  std::vector<std::string> configs = {"fp32", "int8", "fp8"};
  bool torch = true, layers = false;
};

// The three configurations of the issue; middle layers only, as nn::train
// keeps the first and last layer in fp32.
lpsim::nn::PrecisionConfig precision(const std::string& name) {
  lpsim::nn::PrecisionConfig p;
  if (name == "fp32") return p;
  if (name == "int8") {  // int8 W/A/E, fp32 accumulation
    p.w = "int8/minmax/channel", p.a = "int8/minmax/tensor", p.e = "int8/minmax/tensor", p.e_round = "sr";
    return p;
  }
  if (name == "fp8") {  // FP8 with the H800's 14-bit chunked accumulator
    p.w = "e4m3fn", p.a = "e4m3fn", p.e = "e5m2";
    p.mac_fwd = p.mac_bwd_data = p.mac_bwd_weight = "h800.fp8";
    return p;
  }
  throw std::invalid_argument("bench_train: unknown config \"" + name + "\" (fp32, int8, fp8)");
}

const char* describe(const std::string& name) {
  if (name == "fp32") return "fp32 W/A/E, fp32 MAC";
  if (name == "int8") return "int8 W(channel)/A/E(sr) minmax, fp32 MAC";
  return "e4m3fn W/A, e5m2 E, MAC h800.fp8";
}

// A fixed synthetic batch: images ~ U(-1, 1) from a counter-based hash, labels cycling.
void synthetic(int batch, Tensor<float>& x, std::vector<std::int64_t>& labels) {
  x = Tensor<float>({batch, 1, 28, 28});
  for (std::int64_t i = 0; i < x.numel(); ++i)
    x[i] = float(double(lpsim::nn::mix64(std::uint64_t(i)) >> 11) * 0x1p-52 - 1.0);
  labels.resize(std::size_t(batch));
  for (int b = 0; b < batch; ++b) labels[std::size_t(b)] = b % 10;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Run {
  double images_per_second = 0, loss_first = 0, loss_last = 0;
  std::uint64_t digest = 0;  // of every parameter's bits after the last step
};

// FNV-1a over the parameters' bits: equal digests mean bit-identical training
// (to check that a speed-up changed no result).
std::uint64_t digest(const std::vector<lpsim::nn::Param<float>*>& params) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const auto* p : params)
    for (float v : p->value.data) {
      std::uint32_t u;
      std::memcpy(&u, &v, 4);
      for (int i = 0; i < 4; ++i) h = (h ^ ((u >> (8 * i)) & 0xff)) * 0x100000001b3ull;
    }
  return h;
}

Run train_steps(const Options& o, const std::string& config) {
  lpsim::nn::ModelSpec spec;
  spec.arch = o.arch;
  auto model = lpsim::nn::make_model(spec);
  lpsim::nn::apply_precision(*model, precision(config), 1);
  auto params = model->params();
  const lpsim::nn::OptimizerConfig opt;
  Tensor<float> x;
  std::vector<std::int64_t> labels;
  synthetic(o.batch, x, labels);
  Run r;
  auto step = [&](int it) {
    const Tensor<float> logits = model->forward(x, true);
    const float loss = model->loss.forward(logits, labels);
    model->backward(model->loss.backward());
    lpsim::nn::optimizer_step(opt, params, 0.02, it);
    return double(loss);
  };
  int it = 0;
  for (; it < o.warmup; ++it) {
    r.loss_last = step(it);
    if (it == 0) r.loss_first = r.loss_last;
  }
  const auto t0 = Clock::now();
  for (int s = 0; s < o.steps; ++s, ++it) {
    r.loss_last = step(it);
    if (it == 0) r.loss_first = r.loss_last;
  }
  r.images_per_second = double(o.batch) * o.steps / seconds_since(t0);
  r.digest = digest(params);
  return r;
}

// Forward and backward seconds of each block (a layer or a residual block)
// in one fp32 step, after a warm-up step.
void block_profile(const Options& o) {
  lpsim::nn::ModelSpec spec;
  spec.arch = o.arch;
  auto model = lpsim::nn::make_model(spec);
  lpsim::nn::apply_precision(*model, precision("fp32"), 1);  // as training does: no event counts
  Tensor<float> x;
  std::vector<std::int64_t> labels;
  synthetic(o.batch, x, labels);
  const std::size_t n = model->blocks.size();
  std::vector<double> fwd(n), bwd(n);
  for (int rep = 0; rep < 2; ++rep) {
    Tensor<float> h = x;
    for (std::size_t i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      h = model->blocks[i]->forward(h, true);
      fwd[i] = seconds_since(t0);
    }
    model->loss.forward(h, labels);
    Tensor<float> d = model->loss.backward();
    for (std::size_t i = n; i-- > 0 && d.numel();) {
      const auto t0 = Clock::now();
      d = model->blocks[i]->backward(d);
      bwd[i] = seconds_since(t0);
    }
  }
  fmt::print("{:<28} {:>9} {:>9}\n", "block (first layer)", "fwd ms", "bwd ms");
  double tf = 0, tb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<lpsim::nn::Layer<float>*> ls;
    model->blocks[i]->layers(ls);
    fmt::print("{:<28} {:>9.1f} {:>9.1f}\n", ls.front()->name, fwd[i] * 1e3, bwd[i] * 1e3);
    tf += fwd[i], tb += bwd[i];
  }
  fmt::print("{:<28} {:>9.1f} {:>9.1f}\n", "total", tf * 1e3, tb * 1e3);
}

// Runs the PyTorch script; returns its images/s, or 0 when torch is missing.
double torch_images_per_second(const Options& o) {
  const std::string cmd = fmt::format("/usr/bin/python3 {}/torch_resnet20.py --batch {} --threads {} --steps {} --warmup {} 2>&1",
                                      LPSIM_BENCH_DIR, o.batch, o.threads, std::max(o.steps, 5), o.warmup + 1);
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) return 0;
  std::array<char, 512> line;
  double ips = 0;
  while (fgets(line.data(), int(line.size()), pipe.get())) {
    std::string s(line.data());
    fmt::print("  torch| {}", s);
    if (s.rfind("images/s ", 0) == 0) ips = std::atof(s.c_str() + 9);
  }
  return ips;
}

Options parse(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) {
    if (i + 1 >= argc) throw std::invalid_argument(std::string("bench_train: ") + argv[i] + " needs a value");
    return std::string(argv[++i]);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--arch") o.arch = value(i);
    else if (a == "--batch") o.batch = std::stoi(value(i));
    else if (a == "--threads") o.threads = std::stoi(value(i));
    else if (a == "--steps") o.steps = std::stoi(value(i));
    else if (a == "--warmup") o.warmup = std::stoi(value(i));
    else if (a == "--no-torch") o.torch = false;
    else if (a == "--layers") o.layers = true;
    else if (a == "--configs") {
      o.configs.clear();
      const std::string v = value(i);
      for (std::size_t p = 0, q; p <= v.size(); p = q + 1) {
        q = std::min(v.find(',', p), v.size());
        o.configs.push_back(v.substr(p, q - p));
      }
    } else throw std::invalid_argument("bench_train: unknown option \"" + a + "\"");
  }
  if (o.batch < 1 || o.threads < 1 || o.steps < 1 || o.warmup < 0)
    throw std::invalid_argument("bench_train: batch, threads and steps must be positive, warmup not negative");
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  // As the lpsim CLI does: keep freed tensors in the heap, not mmap/munmap every step.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  omp_set_num_threads(o.threads);
  fmt::print("{} training, 28x28x1, batch {}, {} threads, {} timed steps after {} warm-up\n", o.arch, o.batch,
             o.threads, o.steps, o.warmup);
  fmt::print("ISA level {} (host {}; LPSIM_ISA lowers it); CPU flags: {}\n", lpsim::arith::isa_name(lpsim::arith::isa()),
             lpsim::arith::isa_name(lpsim::arith::host_isa()), lpsim::arith::cpu_flags());
  if (o.layers) block_profile(o);
  std::vector<std::pair<std::string, double>> measured;
  for (const auto& c : o.configs) {
    const Run r = train_steps(o, c);
    measured.emplace_back(c, r.images_per_second);
    fmt::print("{:<5} {:<42} {:>9.1f} images/s   (loss {:.4f} -> {:.4f}, weights {:016x})\n", c, describe(c),
               r.images_per_second, r.loss_first, r.loss_last, r.digest);
    std::fflush(stdout);  // each line as it comes: the fp8 configuration takes minutes
  }
  if (!o.torch) return 0;
  if (o.arch != "resnet20") {
    fmt::print("PyTorch comparison only for resnet20\n");
    return 0;
  }
  std::fflush(stdout);
  // Three rounds of PyTorch, each followed by lpsim fp32: on a shared machine
  // whose speed drifts, a round's ratio compares neighbours in time.
  std::vector<double> torch, ratios;
  for (int round = 0; round < 3; ++round) {
    const double t = torch_images_per_second(o);
    if (t <= 0) {
      fmt::print("PyTorch was not found (/usr/bin/python3 -c \"import torch\" failed): no comparison\n");
      return 0;
    }
    const double f = train_steps(o, "fp32").images_per_second;
    fmt::print("round {}: PyTorch fp32 {:.1f} images/s, lpsim fp32 {:.1f} images/s, ratio {:.3f}\n", round + 1, t, f,
               f / t);
    std::fflush(stdout);
    torch.push_back(t), ratios.push_back(f / t);
  }
  std::sort(torch.begin(), torch.end());
  std::sort(ratios.begin(), ratios.end());
  fmt::print("PyTorch fp32: {:.1f} images/s (median); lpsim fp32 / PyTorch = {:.3f} (median of the rounds)\n", torch[1],
             ratios[1]);
  for (const auto& [c, ips] : measured)
    if (c != "fp32") fmt::print("lpsim {} / PyTorch fp32 = {:.3f} (against the median)\n", c, ips / torch[1]);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 1;
}
