// Python view of sim/: MAC configurations, matmul and conv2d on NumPy arrays
// with their statistics. Inputs are read as float32 (copied only when they
// are not already C-contiguous float32); the GIL is released while computing.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "python/bindings.hpp"
#include "sim/conv.hpp"
#include "sim/cost.hpp"
#include "sim/gemm.hpp"

namespace py = pybind11;
using namespace lpsim::sim;

namespace lpsim::py {

namespace {

using F32 = ::py::array_t<float, ::py::array::c_style | ::py::array::forcecast>;

MacConfig as_mac(const ::py::object& o) {
  if (::py::isinstance<MacConfig>(o)) return o.cast<MacConfig>();
  return parse_mac(o.cast<std::string>());
}

::py::dict counts_dict(const MacCounts& c) {
  ::py::dict d;
  d["additions"] = c.additions;
  d["swamped"] = c.swamped;
  d["overflows"] = c.overflows;
  d["saturations"] = c.saturations;
  return d;
}

}  // namespace

void bind_sim(::py::module_& m) {
  ::py::class_<MacConfig>(m, "MacConfig", "A MAC model, parsed from its spelling, e.g. 'in=fp16,acc=fp32' or a preset")
      .def(::py::init([](const std::string& s) { return parse_mac(s); }), ::py::arg("spelling"))
      .def_property_readonly("spelling", &MacConfig::spelling)
      .def("__eq__", [](const MacConfig& a, const MacConfig& b) { return a == b; })
      .def("__repr__", [](const MacConfig& c) { return "MacConfig('" + c.spelling() + "')"; })
      .def("__str__", &MacConfig::spelling);

  m.def("mac_presets", [] {
    ::py::list out;
    for (const auto& p : mac_presets()) {
      ::py::dict d;
      d["name"] = p.name;
      d["spelling"] = p.spelling;
      d["source"] = p.source;
      out.append(d);
    }
    return out;
  }, "Named MAC presets with the public source of each number");

  ::py::class_<GemmStats>(m, "GemmStats", "What one matrix product reported")
      .def_readonly("m", &GemmStats::m)
      .def_readonly("n", &GemmStats::n)
      .def_readonly("k", &GemmStats::k)
      .def_readonly("usage_a", &GemmStats::usage_a)
      .def_readonly("usage_b", &GemmStats::usage_b)
      .def_readonly("usage_a_max", &GemmStats::usage_a_max)
      .def_readonly("usage_b_max", &GemmStats::usage_b_max)
      .def_readonly("depth", &GemmStats::depth)
      .def_readonly("tag", &GemmStats::tag)
      .def_property_readonly("counts", [](const GemmStats& s) { return counts_dict(s.counts); })
      .def_readonly("has_error", &GemmStats::has_error)
      .def_readonly("max_rel_error", &GemmStats::max_rel_error)
      .def_readonly("mean_rel_error", &GemmStats::mean_rel_error)
      .def_readonly("sqnr_db", &GemmStats::sqnr_db)
      .def("__repr__", [](const GemmStats& s) {
        return "GemmStats(m=" + std::to_string(s.m) + ", n=" + std::to_string(s.n) + ", k=" + std::to_string(s.k) +
               ", swamped=" + std::to_string(s.counts.swamped) + ", overflows=" + std::to_string(s.counts.overflows) +
               ")";
      });

  m.def(
      "matmul",
      [](F32 a, F32 b, ::py::object mac, std::uint64_t seed, std::uint32_t stream, bool error, int depth,
         const std::string& tag, bool golden, bool counts) {
        const MacConfig cfg = as_mac(mac);
        if (a.ndim() != 2 || b.ndim() != 2)
          throw std::invalid_argument("matmul: A and B must be 2-D, got " + std::to_string(a.ndim()) + "-D and " +
                                      std::to_string(b.ndim()) + "-D");
        if (a.shape(1) != b.shape(0))
          throw std::invalid_argument("matmul: shapes (" + std::to_string(a.shape(0)) + ", " +
                                      std::to_string(a.shape(1)) + ") and (" + std::to_string(b.shape(0)) + ", " +
                                      std::to_string(b.shape(1)) + ") do not align: " + std::to_string(a.shape(1)) +
                                      " != " + std::to_string(b.shape(0)));
        const std::int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
        F32 c({M, N});
        GemmStats st;
        const GemmArgs g{M, N, K, a.data(), K, false, b.data(), N, false, c.mutable_data(), N};
        {
          ::py::gil_scoped_release nogil;
          (golden ? gemm_golden : gemm)(cfg, g, {seed, stream}, &st, {counts, error, depth, tag});
        }
        return ::py::make_tuple(c, st);
      },
      ::py::arg("a"), ::py::arg("b"), ::py::arg("mac") = "fp32", ::py::arg("seed") = 0, ::py::arg("stream") = 0,
      ::py::arg("error") = false, ::py::arg("depth") = -1, ::py::arg("tag") = "", ::py::arg("golden") = false,
      ::py::arg("counts") = true,
      "C = A @ B on the emulated MAC. Returns (C as float32, GemmStats). error=True also measures the error "
      "against an fp64 product of the rounded operands; golden=True runs the slow reference model; "
      "counts=False skips the event counts (additions, swamped, overflows, saturations), which lets the "
      "vectorised paths run (see lpsim.gemm_path).");

  m.def(
      "conv2d",
      [](F32 x, F32 w, ::py::object mac, std::int64_t stride, std::int64_t padding, std::int64_t groups,
         std::uint64_t seed, bool error, int depth, const std::string& tag, bool counts) {
        const MacConfig cfg = as_mac(mac);
        if (x.ndim() != 4 || w.ndim() != 4)
          throw std::invalid_argument("conv2d: x must be NCHW and w (cout, cin/groups, kh, kw)");
        ConvShape s{x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0), w.shape(2), w.shape(3),
                    stride,     stride,     padding,    padding,    groups};
        s.check();
        if (w.shape(1) * groups != x.shape(1))
          throw std::invalid_argument("conv2d: weights have " + std::to_string(w.shape(1)) +
                                      " input channels per group, x has " + std::to_string(x.shape(1)) +
                                      " channels in " + std::to_string(groups) + " groups");
        F32 y({s.batch, s.cout, s.out_h(), s.out_w()});
        GemmStats st;
        {
          ::py::gil_scoped_release nogil;
          conv2d(cfg, s, x.data(), w.data(), y.mutable_data(), {seed, 0}, &st, {counts, error, depth, tag});
        }
        return ::py::make_tuple(y, st);
      },
      ::py::arg("x"), ::py::arg("w"), ::py::arg("mac") = "fp32", ::py::arg("stride") = 1, ::py::arg("padding") = 0,
      ::py::arg("groups") = 1, ::py::arg("seed") = 0, ::py::arg("error") = false, ::py::arg("depth") = -1,
      ::py::arg("tag") = "", ::py::arg("counts") = true,
      "2-D convolution (im2col) on the emulated MAC. Returns (y, GemmStats); counts as for matmul.");

  m.def("gemm_path", [](::py::object mac) { return std::string(gemm_path(as_mac(mac))); }, ::py::arg("mac"),
        "The fast-path kernel gemm uses for this MAC configuration without event counts "
        "(fma-fp32, integer, float-lanes, fused-lanes, tiled, fused).");

  m.def(
      "bitops", [](::py::object mac, std::int64_t m_, std::int64_t n, std::int64_t k) { return bitops(as_mac(mac), m_, n, k); },
      ::py::arg("mac"), ::py::arg("m"), ::py::arg("n"), ::py::arg("k"),
      "BitOPs of an m x k by k x n product: MACs x operand bits x operand bits");
}

}  // namespace lpsim::py
