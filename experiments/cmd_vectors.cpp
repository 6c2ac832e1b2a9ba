// `lpsim vectors`: golden test vectors for a MAC configuration, so a hardware
// team can check its RTL against lpsim bit for bit. Each vector is K operand
// pairs and the expected result, all as bit patterns of their formats
// (operands without a format are fp32). The expected result is the golden
// model's (sim/dot.hpp), which the tests tie to an exact rational oracle.
// With --addend each vector also has an addend C (D = A.B + C), drawn in the
// result format, as a tensor core takes C in its D format (fp32, or fp16 for
// fp16-result presets); column/dataset "addend", before the result "c".
#include <fmt/core.h>
#include <hdf5.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "arith/arith.hpp"
#include "experiments/commands.hpp"
#include "experiments/new_file.hpp"
#include "experiments/parse_number.hpp"
#include "sim/dot.hpp"

namespace lpsim::cli {

namespace {

constexpr std::int64_t kMaxK = std::int64_t(1) << 20, kMaxOperands = std::int64_t(1) << 28;  // 2 GiB of operand codes

struct VectorArgs {
  std::string mac = "fp32", out, dist = "codes", addend = "none";
  std::int64_t k = 16, count = 1000;
  std::uint64_t seed = 1;
  double scale = 1.0;
  bool exhaustive = false;
};

struct Vectors {
  arith::Format fa, fb, fc;
  std::int64_t k = 0, n = 0;
  std::vector<std::uint64_t> a, b, c;  // n x k, n x k, n
  std::vector<std::uint64_t> addend;   // n codes of fc with --addend; else empty
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

arith::Format operand_format(const std::optional<sim::Rounded>& r) {
  return r ? r->format : arith::parse_format("fp32");
}

Vectors make(const VectorArgs& x, const sim::MacConfig& cfg) {
  Vectors v{operand_format(cfg.a), operand_format(cfg.b), cfg.result().format, x.k, x.count, {}, {}, {}, {}};
  if (x.addend != "none" && x.addend != "zero" && x.addend != "codes" && x.addend != "normal")
    throw std::invalid_argument("--addend \"" + x.addend + "\" is not one of: none, zero, codes, normal");
  if (x.addend == "normal" && (!std::isfinite(x.scale) || !(x.scale > 0)))
    throw std::invalid_argument(fmt::format("--scale must be positive and finite, got {}", x.scale));
  if (x.exhaustive) {
    // Every pair of operand codes, one product per vector (K = 1).
    if (v.fa.bits() + v.fb.bits() > 24)
      throw std::invalid_argument(fmt::format("--exhaustive needs operand formats of at most 24 bits together; {} and {} have {}",
                                              v.fa.spelling, v.fb.spelling, v.fa.bits() + v.fb.bits()));
    v.k = 1;
    v.n = std::int64_t(v.fa.num_codes() * v.fb.num_codes());
    for (std::uint64_t i = 0; i < v.fa.num_codes(); ++i)
      for (std::uint64_t j = 0; j < v.fb.num_codes(); ++j) v.a.push_back(i), v.b.push_back(j);
  } else {
    if (x.k < 1 || x.count < 1) throw std::invalid_argument("--k and --count must be positive");
    if (x.k * x.count > kMaxOperands)  // both are at most 2^28: the product fits
      throw std::invalid_argument(fmt::format("--k {} x --count {} = {} operand pairs, more than {} (2^28)", x.k, x.count,
                                              x.k * x.count, kMaxOperands));
    if (!std::isfinite(x.scale) || !(x.scale > 0))
      throw std::invalid_argument(fmt::format("--scale must be positive and finite, got {}", x.scale));
    std::mt19937_64 gen(x.seed);
    std::normal_distribution<double> normal(0.0, x.scale);
    auto draw = [&](const arith::Format& f, const std::optional<sim::Rounded>& r) -> std::uint64_t {
      if (x.dist == "codes") return gen() % f.num_codes();  // every bit pattern, specials included
      const double value = r ? arith::quantize(normal(gen), r->format, r->rounding, {x.seed, 0}, 0) : float(normal(gen));
      return arith::encode(value, f);
    };
    if (x.dist != "codes" && x.dist != "normal")
      throw std::invalid_argument("--dist \"" + x.dist + "\" is not one of: codes, normal");
    for (std::int64_t i = 0; i < v.n * v.k; ++i) v.a.push_back(draw(v.fa, cfg.a)), v.b.push_back(draw(v.fb, cfg.b));
  }
  if (x.addend != "none") {
    // Its own generator, so that the operands are the same with and without --addend.
    std::seed_seq seq{std::uint64_t(x.seed & 0xffffffffu), std::uint64_t(x.seed >> 32), std::uint64_t(0xadd)};
    std::mt19937_64 gen(seq);
    std::normal_distribution<double> normal(0.0, x.scale);
    const sim::Rounded& r = cfg.result();
    for (std::int64_t i = 0; i < v.n; ++i) {
      if (x.addend == "zero") v.addend.push_back(arith::encode(0.0, v.fc));
      else if (x.addend == "codes") v.addend.push_back(v.fc.bits() >= 64 ? gen() : gen() % v.fc.num_codes());
      else v.addend.push_back(arith::encode(arith::quantize(normal(gen), r.format, r.rounding, {x.seed, 0}, 0), v.fc));
    }
  }
  std::vector<double> a(std::size_t(v.k)), b(std::size_t(v.k));
  for (std::int64_t i = 0; i < v.n; ++i) {
    for (std::int64_t l = 0; l < v.k; ++l) {
      a[std::size_t(l)] = arith::decode(v.a[std::size_t(i * v.k + l)], v.fa);
      b[std::size_t(l)] = arith::decode(v.b[std::size_t(i * v.k + l)], v.fb);
    }
    sim::MacCounts none;
    const double addend = v.addend.empty() ? 0.0 : arith::decode(v.addend[std::size_t(i)], v.fc);
    double r;
    try {
      r = sim::dot_golden(cfg, a.data(), b.data(), 1, v.k, {x.seed, 0}, {std::uint64_t(i), std::uint64_t(v.n)}, none,
                          v.addend.empty() ? nullptr : &addend);
    } catch (const std::domain_error&) {
      r = std::nan("");  // a NaN reached a fixed-point format: the result has no code
    }
    v.c.push_back(std::isnan(r) && !v.fc.has_nan() ? ~0ull : arith::encode(r, v.fc));
  }
  return v;
}

std::string header(const VectorArgs& x, const sim::MacConfig& cfg, const Vectors& v) {
  return fmt::format("lpsim vectors: mac={} a={} b={} result={} k={} count={} seed={} dist={}{}{}", cfg.spelling(),
                     v.fa.spelling, v.fb.spelling, v.fc.spelling, v.k, v.n, x.seed, x.exhaustive ? "exhaustive" : x.dist,
                     v.addend.empty() ? "" : fmt::format(" addend={} (in {}: c = a.b + addend)", x.addend, v.fc.spelling),
                     v.fc.has_nan() ? "" : " (result 0xff..ff: a NaN reached a format without NaN, an error)");
}

void write_text(const std::string& path, const std::string& head, const Vectors& v, bool csv) {
  std::FILE* f = path.empty() ? stdout : std::fopen(path.c_str(), "w");
  if (!f) throw std::invalid_argument(path + ": cannot create");
  const int da = (v.fa.bits() + 3) / 4, db = (v.fb.bits() + 3) / 4, dc = (v.fc.bits() + 3) / 4;
  // .hex: Verilog comments, so that $readmemh loads the file as it is (docs/vectors.md).
  fmt::print(f, "{} {}\n", csv ? "#" : "//", head);
  if (csv) {
    for (std::int64_t l = 0; l < v.k; ++l) fmt::print(f, "a{},", l);
    for (std::int64_t l = 0; l < v.k; ++l) fmt::print(f, "b{},", l);
    fmt::print(f, "{}c\n", v.addend.empty() ? "" : "addend,");
  } else {
    fmt::print(f, "// one vector per line: a0..a{0} b0..b{0} {1}c, hex\n", v.k - 1, v.addend.empty() ? "" : "addend ");
  }
  const char* sep = csv ? "," : " ";
  for (std::int64_t i = 0; i < v.n; ++i) {
    for (std::int64_t l = 0; l < v.k; ++l) fmt::print(f, "{}{:0{}x}{}", csv ? "0x" : "", v.a[std::size_t(i * v.k + l)], da, sep);
    for (std::int64_t l = 0; l < v.k; ++l) fmt::print(f, "{}{:0{}x}{}", csv ? "0x" : "", v.b[std::size_t(i * v.k + l)], db, sep);
    if (!v.addend.empty()) fmt::print(f, "{}{:0{}x}{}", csv ? "0x" : "", v.addend[std::size_t(i)], dc, sep);
    const std::uint64_t c = v.c[std::size_t(i)];
    fmt::print(f, "{}{:0{}x}\n", csv ? "0x" : "", c, c == ~0ull ? 16 : dc);
  }
  if (f != stdout && std::fclose(f) != 0) throw std::invalid_argument(path + ": write failed");
}

void write_h5(const std::string& path, const std::string& head, const Vectors& v) {
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) throw std::invalid_argument(path + ": cannot create HDF5 file");
  auto dataset = [&](const char* name, const std::vector<std::uint64_t>& data, int rank) {
    const hsize_t dims[2] = {hsize_t(v.n), hsize_t(v.k)};
    const hid_t space = H5Screate_simple(rank, dims, nullptr);
    const hid_t d = H5Dcreate2(file, name, H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const herr_t ok = H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
    H5Dclose(d);
    H5Sclose(space);
    if (ok < 0) throw std::invalid_argument(path + ": writing dataset " + name + " failed");
  };
  auto text = [&](const char* name, const std::string& value) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, value.size() + 1);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t at = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(at, type, value.c_str());
    H5Aclose(at);
    H5Sclose(space);
    H5Tclose(type);
  };
  dataset("a", v.a, 2);
  dataset("b", v.b, 2);
  dataset("c", v.c, 1);
  if (!v.addend.empty()) dataset("addend", v.addend, 1);
  text("description", head);
  text("a_format", v.fa.spelling);
  text("b_format", v.fb.spelling);
  text("c_format", v.fc.spelling);
  if (!v.addend.empty()) text("addend_format", v.fc.spelling);
  if (H5Fclose(file) < 0) throw std::invalid_argument(path + ": closing the HDF5 file failed");
}

void run(const VectorArgs& x) {
  const sim::MacConfig cfg = sim::parse_mac(x.mac);
  std::optional<NewFile> out;
  if (!x.out.empty()) out.emplace(x.out);  // refused before any work if it exists
  const Vectors v = make(x, cfg);
  const std::string head = header(x, cfg, v);
  const bool h5 = ends_with(x.out, ".h5") || ends_with(x.out, ".hdf5");
  if (h5) write_h5(out->tmp(), head, v);
  else write_text(out ? out->tmp() : "", head, v, !ends_with(x.out, ".hex"));
  if (out) out->commit();
  if (!quiet && !x.out.empty()) fmt::print("{}: {} vectors of K = {} ({})\n", x.out, v.n, v.k, cfg.spelling());
}

}  // namespace

void add_vectors(CLI::App& app) {
  auto x = std::make_shared<VectorArgs>();
  auto* cmd = app.add_subcommand("vectors", "golden test vectors (operand and result bit patterns) for a MAC configuration");
  cmd->add_option("--mac", x->mac, "MAC configuration or preset (lpsim info --macs)")->capture_default_str();
  add_unsigned_option(cmd, "--k", x->k, "products per vector (1..2^20)", kMaxK);
  add_unsigned_option(cmd, "--count", x->count, "number of random vectors (1..2^28, at most 2^28 operands)", kMaxOperands);
  cmd->add_option("--dist", x->dist, "codes: uniform over every bit pattern (specials included); normal: N(0, scale) values")
      ->capture_default_str();
  cmd->add_option("--scale", x->scale, "standard deviation for --dist normal and --addend normal")->capture_default_str();
  cmd->add_option("--addend", x->addend,
                  "an addend C per vector, c = a.b + C, in the result format (column \"addend\"): none (no column), "
                  "zero, codes (every bit pattern), normal (N(0, scale) rounded to it)")
      ->capture_default_str();
  add_unsigned_option(cmd, "--seed", x->seed, "random seed (operands, and stochastic rounding if configured)");
  cmd->add_flag("--exhaustive", x->exhaustive, "every pair of operand codes, K = 1 (formats of <= 24 bits together)");
  cmd->add_option("-o,--out", x->out, "file: .csv (default), .hex (one vector per line), .h5; default: CSV to stdout");
  cmd->callback([x] { run(*x); });
}

}  // namespace lpsim::cli
