// `lpsim vectors`: golden test vectors for a MAC configuration, so a hardware
// team can check its RTL against lpsim bit for bit. Each vector is K operand
// pairs (optionally an addend C, D = A.B + C, in the result format) and the
// expected result, all as bit patterns of their formats (operands without a
// format are fp32), and with --flags the accumulation's events. The vectors
// come from experiments/vectors.hpp (shared with lpsim.vectors()); this file
// parses the options and writes the files: .csv, .hex ($readmemh, one code a
// word or --packed one vector a word), TestFloat-style lines, .h5
// (docs/vectors.md).
#include <fmt/core.h>
#include <hdf5.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "experiments/commands.hpp"
#include "experiments/new_file.hpp"
#include "experiments/parse_number.hpp"
#include "experiments/vectors.hpp"

namespace lpsim::cli {

namespace {

constexpr std::int64_t kMaxK = std::int64_t(1) << 20, kMaxOperands = std::int64_t(1) << 28;  // 2 GiB of operand codes

struct VectorArgs {
  VectorSpec spec;
  std::string out, format = "auto";
  bool flags = false, packed = false;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The file layout: --format, else by the extension of -o (CSV without one).
std::string layout(const VectorArgs& x) {
  std::string f = x.format;
  if (f == "auto") {
    f = ends_with(x.out, ".h5") || ends_with(x.out, ".hdf5") ? "h5"
        : ends_with(x.out, ".hex")                           ? "hex"
        : ends_with(x.out, ".tf")                            ? "testfloat"
                                                             : "csv";
  } else if (f != "csv" && f != "hex" && f != "testfloat" && f != "h5") {
    throw std::invalid_argument("--format \"" + f + "\" is not one of: auto, csv, hex, testfloat, h5");
  }
  if (f == "h5" && x.out.empty()) throw std::invalid_argument("--format h5 needs a file (-o FILE.h5)");
  if (x.packed && f != "hex")
    throw std::invalid_argument("--packed applies to .hex files (-o FILE.hex or --format hex), not to " + f);
  return f;
}

int digits(int bits) { return (bits + 3) / 4; }

struct Text {
  std::FILE* f;
  std::string path;
  explicit Text(const std::string& p) : f(p.empty() ? stdout : std::fopen(p.c_str(), "w")), path(p) {
    if (!f) throw std::invalid_argument(p + ": cannot create");
  }
  void close() {
    if (f != stdout && std::fclose(f) != 0) throw std::invalid_argument(path + ": write failed");
    f = nullptr;
  }
  ~Text() {
    if (f && f != stdout) std::fclose(f);
  }
};

// The result code as written: the format's digits, or sixteen f's for "a NaN without a code".
std::string result_text(std::uint64_t c, int dc, bool upper) {
  return c == ~0ull ? std::string(16, upper ? 'F' : 'f') : upper ? fmt::format("{:0{}X}", c, dc) : fmt::format("{:0{}x}", c, dc);
}

void write_text(const std::string& path, const Vectors& v, bool csv, bool flags) {
  Text t(path);
  const int da = digits(v.fa.bits()), db = digits(v.fb.bits()), dc = digits(v.fc.bits());
  // .hex: Verilog comments, so that $readmemh loads the file as it is (docs/vectors.md).
  fmt::print(t.f, "{} {}\n", csv ? "#" : "//", v.header);
  if (csv) {
    for (std::int64_t l = 0; l < v.k; ++l) fmt::print(t.f, "a{},", l);
    for (std::int64_t l = 0; l < v.k; ++l) fmt::print(t.f, "b{},", l);
    fmt::print(t.f, "{}c{}\n", v.addend.empty() ? "" : "addend,", flags ? ",overflow,saturation,inexact,nan,swamped" : "");
  } else {
    fmt::print(t.f, "// one vector per line: a0..a{0} b0..b{0} {1}c{2}, hex\n", v.k - 1, v.addend.empty() ? "" : "addend ",
               flags ? " overflow saturation inexact nan swamped" : "");
  }
  const char* sep = csv ? "," : " ";
  const char* x = csv ? "0x" : "";
  for (std::int64_t i = 0; i < v.n; ++i) {
    const auto s = std::size_t(i);
    for (std::int64_t l = 0; l < v.k; ++l) fmt::print(t.f, "{}{:0{}x}{}", x, v.a[std::size_t(i * v.k + l)], da, sep);
    for (std::int64_t l = 0; l < v.k; ++l) fmt::print(t.f, "{}{:0{}x}{}", x, v.b[std::size_t(i * v.k + l)], db, sep);
    if (!v.addend.empty()) fmt::print(t.f, "{}{:0{}x}{}", x, v.addend[s], dc, sep);
    fmt::print(t.f, "{}{}", x, result_text(v.c[s], dc, false));
    if (flags)
      fmt::print(t.f, "{0}{1}{2:x}{0}{1}{3:x}{0}{1}{4:x}{0}{1}{5:x}{0}{1}{6:x}", sep, x, v.overflow[s], v.saturation[s],
                 v.inexact[s], v.nan[s], v.swamped[s]);
    fmt::print(t.f, "\n");
  }
  t.close();
}

// --packed: one word per vector, the fields concatenated from the most significant bit.
void write_packed(const std::string& path, const Vectors& v, bool flags) {
  Text t(path);
  const int wa = v.fa.bits(), wb = v.fb.bits(), wc = v.fc.bits();
  const std::int64_t width = v.k * (wa + wb) + (v.addend.empty() ? 0 : wc) + wc + (flags ? 8 : 0);
  fmt::print(t.f, "// {}\n", v.header);
  fmt::print(t.f, "// packed: one {}-bit word per vector, from the most significant bit: a0..a{} ({} bits each), b0..b{} ({} bits "
                  "each), {}c ({} bits){}; hex\n",
             width, v.k - 1, wa, v.k - 1, wb, v.addend.empty() ? "" : fmt::format("addend ({} bits), ", wc), wc,
             flags ? ", flags (8 bits)" : "");
  std::vector<char> bits;
  bits.reserve(std::size_t(width + 3));
  auto put = [&](std::uint64_t code, int w) {
    for (int q = w - 1; q >= 0; --q) bits.push_back(char(q < 64 ? (code >> q) & 1 : 0));
  };
  std::string line;
  for (std::int64_t i = 0; i < v.n; ++i) {
    const auto s = std::size_t(i);
    bits.assign(std::size_t((4 - width % 4) % 4), 0);  // leading zeros to a whole hex digit
    for (std::int64_t l = 0; l < v.k; ++l) put(v.a[std::size_t(i * v.k + l)], wa);
    for (std::int64_t l = 0; l < v.k; ++l) put(v.b[std::size_t(i * v.k + l)], wb);
    if (!v.addend.empty()) put(v.addend[s], wc);
    put(v.c[s], wc);  // ~0 (NaN without a code): all ones
    if (flags) put(v.flags[s], 8);
    line.clear();
    for (std::size_t q = 0; q < bits.size(); q += 4)
      line.push_back("0123456789abcdef"[(bits[q] << 3) | (bits[q + 1] << 2) | (bits[q + 2] << 1) | bits[q + 3]]);
    fmt::print(t.f, "{}\n", line);
  }
  t.close();
}

// TestFloat-style: a0 b0 a1 b1 ... [addend] result flags, upper-case hex, no header.
void write_testfloat(const std::string& path, const Vectors& v) {
  Text t(path);
  const int da = digits(v.fa.bits()), db = digits(v.fb.bits()), dc = digits(v.fc.bits());
  for (std::int64_t i = 0; i < v.n; ++i) {
    const auto s = std::size_t(i);
    for (std::int64_t l = 0; l < v.k; ++l)
      fmt::print(t.f, "{:0{}X} {:0{}X} ", v.a[std::size_t(i * v.k + l)], da, v.b[std::size_t(i * v.k + l)], db);
    if (!v.addend.empty()) fmt::print(t.f, "{:0{}X} ", v.addend[s], dc);
    fmt::print(t.f, "{} {:02X}\n", result_text(v.c[s], dc, true), v.flags[s]);
  }
  t.close();
}

void write_h5(const std::string& path, const Vectors& v, bool flags) {
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) throw std::invalid_argument(path + ": cannot create HDF5 file");
  auto dataset = [&](const char* name, const void* data, int rank, hid_t file_type, hid_t mem_type) {
    const hsize_t dims[2] = {hsize_t(v.n), hsize_t(v.k)};
    const hid_t space = H5Screate_simple(rank, dims, nullptr);
    const hid_t d = H5Dcreate2(file, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const herr_t ok = H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(d);
    H5Sclose(space);
    if (ok < 0) {
      H5Fclose(file);
      throw std::invalid_argument(path + ": writing dataset " + name + " failed");
    }
  };
  auto u64 = [&](const char* name, const std::vector<std::uint64_t>& data, int rank) {
    dataset(name, data.data(), rank, H5T_STD_U64LE, H5T_NATIVE_UINT64);
  };
  auto u8 = [&](const char* name, const std::vector<std::uint8_t>& data) {
    dataset(name, data.data(), 1, H5T_STD_U8LE, H5T_NATIVE_UINT8);
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
  u64("a", v.a, 2);
  u64("b", v.b, 2);
  u64("c", v.c, 1);
  if (!v.addend.empty()) u64("addend", v.addend, 1);
  if (flags) {
    u64("overflow", v.overflow, 1);
    u64("saturation", v.saturation, 1);
    u8("inexact", v.inexact);
    u8("nan", v.nan);
    u64("swamped", v.swamped, 1);
    u8("flags", v.flags);
  }
  text("description", v.header);
  text("a_format", v.fa.spelling);
  text("b_format", v.fb.spelling);
  text("c_format", v.fc.spelling);
  if (!v.addend.empty()) text("addend_format", v.fc.spelling);
  if (H5Fclose(file) < 0) throw std::invalid_argument(path + ": closing the HDF5 file failed");
}

void run(const VectorArgs& x) {
  const std::string kind = layout(x);  // bad --format / --packed before any file exists
  std::optional<NewFile> out;
  if (!x.out.empty()) out.emplace(x.out);  // refused before any work if it exists
  const Vectors v = make_vectors(x.spec);
  const std::string path = out ? out->tmp() : "";
  if (kind == "h5") write_h5(path, v, x.flags);
  else if (kind == "testfloat") write_testfloat(path, v);
  else if (x.packed) write_packed(path, v, x.flags);
  else write_text(path, v, kind == "csv", x.flags);
  if (out) out->commit();
  if (!quiet && !x.out.empty()) fmt::print("{}: {} vectors of K = {} ({})\n", x.out, v.n, v.k, x.spec.mac);
}

}  // namespace

void add_vectors(CLI::App& app) {
  auto x = std::make_shared<VectorArgs>();
  VectorSpec& s = x->spec;
  auto* cmd = app.add_subcommand("vectors", "golden test vectors (operand and result bit patterns) for a MAC configuration");
  cmd->add_option("--mac", s.mac, "MAC configuration or preset (lpsim info --macs)")->capture_default_str();
  add_unsigned_option(cmd, "--k", s.k, "products per vector (1..2^20)", kMaxK);
  add_unsigned_option(cmd, "--count", s.count, "number of random vectors (1..2^28, at most 2^28 operands)", kMaxOperands);
  cmd->add_option("--dist", s.dist,
                  "operands (docs/vectors.md): mixed (half finite, half corners), codes (every bit pattern, specials "
                  "included), finite (every finite bit pattern), normal (N(0, scale) values), subnormals, near-overflow, "
                  "cancellation, ties, corners (the four in turn)")
      ->capture_default_str();
  cmd->add_option("--scale", s.scale, "standard deviation of the normal draws (--dist, --addend normal)")->capture_default_str();
  cmd->add_option("--addend", s.addend,
                  "an addend C per vector, c = a.b + C, in the result format (column \"addend\"): none (no column), "
                  "zero, codes (every bit pattern), normal (N(0, scale) rounded to it), all (every code: with "
                  "--exhaustive, every (a, b, C) triple)")
      ->capture_default_str();
  add_unsigned_option(cmd, "--seed", s.seed, "random seed (operands, addends, and stochastic rounding if configured)");
  cmd->add_flag("--exhaustive", s.exhaustive,
                "every pair of operand codes, K = 1 (formats of <= 24 bits together); with --addend all every triple");
  cmd->add_flag("--specials", s.specials,
                "inject infinities and NaNs: each drawn operand with probability 1/(8K), a normal addend with 1/8");
  cmd->add_flag("--flags", x->flags,
                "per-vector columns overflow, saturation, inexact, nan, swamped (.h5 also the flags byte; --packed: the byte)");
  cmd->add_flag("--packed", x->packed, ".hex: one word per vector, every field concatenated (docs/vectors.md)");
  cmd->add_option("--format", x->format, "auto (by the extension of -o), csv, hex, testfloat (.tf), h5")->capture_default_str();
  cmd->add_option("-o,--out", x->out,
                  "file: .csv (default), .hex (one code a word; --packed one vector a word), .tf (TestFloat-style lines), "
                  ".h5; default: CSV to stdout");
  cmd->callback([x] { run(*x); });
}

}  // namespace lpsim::cli
