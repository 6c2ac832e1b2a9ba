// `lpsim matmul A B --mac CONFIG [--c C] [-o D]`: one product on the emulated
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
  std::string a, b, c, out, mac = "fp32";
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
  sim::GemmStats st;
  sim::gemm(cfg,
            {a.rows, b.cols, a.cols, a.data.data(), a.cols, false, b.data.data(), b.cols, false, c.data.data(), b.cols,
             add_c},
            {x.seed, 0}, &st, {x.counts, x.error, -1, "cli"});
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
             cfg.spelling(), add_c ? (cfg.order == sim::Order::Fused ? "fused" : "tiled") : sim::gemm_path(cfg));
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
  cmd->add_option("-o,--out", x->out, "write the result here (.npy, else text); default: print it");
  add_unsigned_option(cmd, "--seed", x->seed, "seed of stochastic rounding");
  cmd->add_flag("--error", x->error, "also report the error against fp64 of the rounded operands");
  cmd->add_flag("--counts", x->counts, "count additions, swamped additions, overflows, saturations");
  cmd->callback([x] { run(*x); });
}

}  // namespace lpsim::cli
