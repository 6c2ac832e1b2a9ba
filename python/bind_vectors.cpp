// lpsim.vectors(): the golden test vectors of `lpsim vectors` (experiments/vectors.hpp,
// docs/vectors.md) as NumPy columns, for testbenches written in Python (cocotb):
// the same generator, so the same arguments give the same vectors as the CLI.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "arith/codec.hpp"
#include "experiments/vectors.hpp"
#include "python/bindings.hpp"
#include "sim/mac_config.hpp"

namespace py = pybind11;

namespace lpsim::py {

// Argument checks shared with bind_arith.cpp (defined there).
std::uint64_t uint64_arg(const ::py::handle& o, const std::string& what);
std::int64_t int_arg(const ::py::handle& o, const std::string& what, std::int64_t lo, std::int64_t hi);

namespace {

template <class T>
::py::array_t<T> column(const std::vector<T>& x, std::int64_t rows, std::int64_t cols) {
  std::vector<::py::ssize_t> shape{::py::ssize_t(rows)};
  if (cols > 0) shape.push_back(::py::ssize_t(cols));
  ::py::array_t<T> out(shape);
  std::copy(x.begin(), x.end(), out.mutable_data());
  return out;
}

::py::array_t<double> values(const std::vector<std::uint64_t>& codes, const arith::Format& f, std::int64_t rows,
                             std::int64_t cols) {
  std::vector<double> v(codes.size());
  for (std::size_t i = 0; i < codes.size(); ++i) v[i] = codes[i] == ~0ull && !f.has_nan() ? std::nan("") : arith::decode(codes[i], f);
  return column(v, rows, cols);
}

std::string text_arg(const ::py::handle& o, const std::string& what) {
  if (!PyUnicode_Check(o.ptr()))
    throw ::py::type_error("vectors: " + what + " must be a str, got " + ::py::repr(o).cast<std::string>());
  return o.cast<std::string>();
}

}  // namespace

void bind_vectors(::py::module_& m) {
  m.def(
      "vectors",
      [](::py::object mac, ::py::object k, ::py::object count, ::py::object dist, ::py::object scale, ::py::object addend,
         ::py::object seed, bool exhaustive, bool specials) {
        cli::VectorSpec s;
        if (::py::isinstance<sim::MacConfig>(mac)) s.mac = mac.cast<sim::MacConfig>().spelling();
        else s.mac = text_arg(mac, "mac");
        s.k = int_arg(k, "vectors: k", 1, std::int64_t(1) << 20);
        s.count = int_arg(count, "vectors: count", 1, std::int64_t(1) << 28);
        s.dist = text_arg(dist, "dist");
        s.addend = text_arg(addend, "addend");
        s.scale = scale.cast<double>();
        s.seed = uint64_arg(seed, "vectors: seed");
        s.exhaustive = exhaustive;
        s.specials = specials;
        cli::Vectors v;
        {
          ::py::gil_scoped_release unlocked;
          v = cli::make_vectors(s);
        }
        ::py::dict d;
        d["a"] = column(v.a, v.n, v.k);
        d["b"] = column(v.b, v.n, v.k);
        if (!v.addend.empty()) d["addend"] = column(v.addend, v.n, 0);
        d["c"] = column(v.c, v.n, 0);
        d["a_value"] = values(v.a, v.fa, v.n, v.k);
        d["b_value"] = values(v.b, v.fb, v.n, v.k);
        if (!v.addend.empty()) d["addend_value"] = values(v.addend, v.fc, v.n, 0);
        d["c_value"] = values(v.c, v.fc, v.n, 0);
        d["overflow"] = column(v.overflow, v.n, 0);
        d["saturation"] = column(v.saturation, v.n, 0);
        d["inexact"] = column(v.inexact, v.n, 0);
        d["nan"] = column(v.nan, v.n, 0);
        d["swamped"] = column(v.swamped, v.n, 0);
        d["flags"] = column(v.flags, v.n, 0);
        d["a_format"] = v.fa.spelling;
        d["b_format"] = v.fb.spelling;
        d["c_format"] = v.fc.spelling;
        d["header"] = v.header;
        return d;
      },
      ::py::arg("mac") = "fp32", ::py::arg("k") = 16, ::py::arg("count") = 1000, ::py::kw_only(), ::py::arg("dist") = "mixed",
      ::py::arg("scale") = 1.0, ::py::arg("addend") = "none", ::py::arg("seed") = 1, ::py::arg("exhaustive") = false,
      ::py::arg("specials") = false,
      "Golden test vectors, as `lpsim vectors` writes them (docs/vectors.md): a dict of NumPy columns. Codes (uint64): "
      "'a', 'b' (count, k), 'c' (count,), 'addend' (count,; only with an addend); their values (float64): 'a_value', "
      "'b_value', 'c_value', 'addend_value' (a result 0xff..ff, a NaN in a format without NaN, as NaN); flags per "
      "vector: 'overflow', 'saturation', 'swamped' (uint64 counts), 'inexact' (0/1), 'nan' (its source, 0..4), "
      "'flags' (the TestFloat-style byte); 'a_format', 'b_format', 'c_format', 'header'. The arguments are the CLI's "
      "options: dist mixed|codes|finite|normal|subnormals|near-overflow|cancellation|ties|corners, addend "
      "none|zero|codes|normal|all (all: with exhaustive, every triple); the same arguments give the same vectors as "
      "the CLI. mac: a MacConfig or its spelling (block-scaled MACs are refused); k in [1, 2**20], count in "
      "[1, 2**28]: the rows; scale (float): the scale of normal draws; seed in [0, 2**64 - 1]; exhaustive: every "
      "pair of operand codes, k = 1 (at most 24 operand bits together); specials: some operands replaced by "
      "infinities and NaNs (every dist but codes). Bad arguments raise ValueError "
      "naming the CLI option; a mac, dist or addend that is not a str raises TypeError.");
}

}  // namespace lpsim::py
