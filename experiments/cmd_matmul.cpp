// `lpsim matmul A B --mac CONFIG [--c C] [--scale-a SA --scale-b SB] [-o D]`: one product on the emulated
// MAC from the shell, with its statistics; with --c the addend C enters as the
// accumulator's initial value (D = A.B + C, sim/README.md). Matrices are .npy
// or text (experiments/npy.hpp).
#include <fmt/core.h>

#include <memory>
#include <optional>
#include <string>

#include "experiments/commands.hpp"
#include "experiments/new_file.hpp"
#include "experiments/npy.hpp"
#include "experiments/parse_number.hpp"
#include "sim/gemm.hpp"

namespace lpsim::cli {

namespace {

constexpr std::int64_t kMaxResult = std::int64_t(1) << 34;

struct MatmulArgs {
  std::string a, b, c, scale_a, scale_b, out, mac = "fp32";
  std::uint64_t seed = 0;
  bool error = false, counts = false;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void run(const MatmulArgs& x) {
  const sim::MacConfig cfg = sim::parse_mac(x.mac);
  std::optional<NewFile> out;
  if (!x.out.empty()) out.emplace(x.out);  // refused before any work if it exists
  const Matrix a = read_matrix(x.a), b = read_matrix(x.b);
  if (a.cols != b.rows)
    throw std::invalid_argument(fmt::format("shapes do not align: {} is {}x{}, {} is {}x{} ({} != {})", x.a, a.rows,
                                            a.cols, x.b, b.rows, b.cols, a.cols, b.rows));
  if (b.cols != 0 && a.rows > kMaxResult / b.cols)
    throw std::invalid_argument(fmt::format("C = A.B would be {}x{}, more than {} elements", a.rows, b.cols, kMaxResult));
  Matrix c{a.rows, b.cols, {}};
  const bool add_c = !x.c.empty();
  if (add_c) {
    c = read_matrix(x.c);  // the addend, written over by the result
    if (c.rows != a.rows || c.cols != b.cols)
      throw std::invalid_argument(fmt::format("{} is {}x{}, but A.B is {}x{} ({} is {}x{}, {} is {}x{}); --c must have the "
                                              "result's shape",
                                              x.c, c.rows, c.cols, a.rows, b.cols, x.a, a.rows, a.cols, x.b, b.rows, b.cols));
  } else {
    c.data.assign(std::size_t(a.rows * b.cols), 0.f);
  }
  // Block scales (a block-scaled MAC such as blackwell.mxfp8): m x k/block and k/block x n.
  Matrix sa, sb;
  if (x.scale_a.empty() != x.scale_b.empty()) throw std::invalid_argument("give both --scale-a and --scale-b, or neither");
  if (!x.scale_a.empty() && cfg.scale == sim::ScaleKind::None)
    throw std::invalid_argument("--scale-a/--scale-b given, but the MAC " + cfg.spelling() + " has no scale=");
  if (cfg.scale != sim::ScaleKind::None) {
    if (x.scale_a.empty())
      throw std::invalid_argument(fmt::format("the MAC {} is block-scaled: give --scale-a ({}x{}) and --scale-b ({}x{})",
                                              cfg.spelling(), a.rows, a.cols / cfg.block, a.cols / cfg.block, b.cols));
    if (a.cols % cfg.block)
      throw std::invalid_argument(fmt::format("K = {} is not a multiple of the scale block {}", a.cols, cfg.block));
    const std::int64_t kb = a.cols / cfg.block;
    sa = read_matrix(x.scale_a);
    sb = read_matrix(x.scale_b);
    if (sa.rows != a.rows || sa.cols != kb)
      throw std::invalid_argument(fmt::format("{} is {}x{}, expected {}x{}: one scale per row of A and block of {}",
                                              x.scale_a, sa.rows, sa.cols, a.rows, kb, cfg.block));
    if (sb.rows != kb || sb.cols != b.cols)
      throw std::invalid_argument(fmt::format("{} is {}x{}, expected {}x{}: one scale per block of {} and column of B",
                                              x.scale_b, sb.rows, sb.cols, kb, b.cols, cfg.block));
  }
  sim::GemmStats st;
  sim::GemmArgs g{a.rows, b.cols, a.cols, a.data.data(), a.cols, false, b.data.data(), b.cols, false, c.data.data(),
                  b.cols, add_c};
  if (cfg.scale != sim::ScaleKind::None) g.scale_a = sa.data.data(), g.scale_b = sb.data.data();
  sim::gemm(cfg, g, {x.seed, 0}, &st, {x.counts, x.error, -1, "cli"});
  if (x.out.empty()) {
    for (std::int64_t i = 0; i < c.rows; ++i)
      for (std::int64_t j = 0; j < c.cols; ++j)
        fmt::print("{:.9g}{}", c.data[std::size_t(i * c.cols + j)], j + 1 < c.cols ? ' ' : '\n');
  } else {
    if (ends_with(x.out, ".npy")) write_npy(out->tmp(), c);
    else write_text(out->tmp(), c);
    out->commit();
  }
  if (quiet && !x.out.empty()) return;
  std::FILE* info = x.out.empty() ? stderr : stdout;  // keep stdout for C when it goes there
  fmt::print(info, "{}: {}x{}, K = {}, MAC {} (path {})\n", add_c ? "D = A.B + C" : "C = A.B", c.rows, c.cols, a.cols,
             cfg.spelling(), sim::gemm_path(cfg, add_c));
  if (x.counts)
    fmt::print(info, "additions {}  swamped {}  overflows {}  saturations {}\n", st.counts.additions,
               st.counts.swamped, st.counts.overflows, st.counts.saturations);
  if (x.error)
    fmt::print(info, "against fp64 of the rounded operands: max rel error {:.3e}  mean {:.3e}  SQNR {:.2f} dB\n",
               st.max_rel_error, st.mean_rel_error, st.sqnr_db);
}

}  // namespace

void add_matmul(CLI::App& app) {
  auto x = std::make_shared<MatmulArgs>();
  auto* cmd = app.add_subcommand("matmul", "C = A.B (or A.B + C with --c) on the emulated MAC; matrices as .npy or text");
  cmd->add_option("a", x->a, "left matrix (.npy, or text: rows of numbers)")->required();
  cmd->add_option("b", x->b, "right matrix")->required();
  cmd->add_option("--mac", x->mac, "MAC configuration or preset (lpsim info --macs)")->capture_default_str();
  cmd->add_option("--c", x->c,
                  "addend C (.npy or text, shaped like A.B): D = A.B + C, C entering unrounded as the accumulator's "
                  "initial value (sim/README.md)");
  cmd->add_option("--scale-a", x->scale_a,
                  "block scales of A for a block-scaled MAC (blackwell.mxfp8, .mxfp4, .nvfp4): m x k/block values");
  cmd->add_option("--scale-b", x->scale_b, "block scales of B: k/block x n values");
  cmd->add_option("-o,--out", x->out, "write the result here (.npy, else text); default: print it");
  add_unsigned_option(cmd, "--seed", x->seed, "seed of stochastic rounding");
  cmd->add_flag("--error", x->error, "also report the error against fp64 of the rounded operands");
  cmd->add_flag("--counts", x->counts, "count additions, swamped additions, overflows, saturations");
  cmd->callback([x] { run(*x); });
}

}  // namespace lpsim::cli
