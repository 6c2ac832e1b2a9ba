// Python view of arith/: formats, rounding, quantize on NumPy arrays (float32
// and float64 without copies), encode/decode of bit patterns.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>

#include "arith/arith.hpp"
#include "python/bindings.hpp"

namespace py = pybind11;
using namespace lpsim::arith;

namespace lpsim::py {

namespace {

Format as_format(const ::py::object& o) {
  if (::py::isinstance<Format>(o)) return o.cast<Format>();
  return parse_format(o.cast<std::string>());
}

// Quantizes a float32/float64 array into a new array of the same dtype and
// shape (or in place when out is the input). Other dtypes are converted to
// float64. The GIL is released while the C++ core works.
template <class T>
::py::array quantize_array(::py::array_t<T, ::py::array::c_style | ::py::array::forcecast> x, const Format& f,
                           Rounding r, RandomKey key, std::uint64_t index0, ::py::object out) {
  ::py::array_t<T> result;
  if (out.is_none()) {
    result = ::py::array_t<T>(std::vector<::py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  } else {
    result = out.cast<::py::array_t<T>>();
    if (result.size() != x.size() || !(result.flags() & ::py::array::c_style) || !result.writeable())
      throw std::invalid_argument("quantize: out must be a writeable C-contiguous array of the input's size and dtype");
  }
  const T* in = x.data();
  T* o = result.mutable_data();
  const std::size_t n = std::size_t(x.size());
  {
    ::py::gil_scoped_release nogil;
    quantize(in, o, n, f, r, key, index0);
  }
  return result;
}

}  // namespace

void bind_arith(::py::module_& m) {
  ::py::register_exception<FormatError>(m, "FormatError", PyExc_ValueError);

  ::py::class_<Format>(m, "Format", "A number format, parsed from its spelling (see DESIGN.md)")
      .def(::py::init([](const std::string& s) { return parse_format(s); }), ::py::arg("spelling"))
      .def_readonly("spelling", &Format::spelling)
      .def_property_readonly("bits", &Format::bits)
      .def_property_readonly("num_codes", &Format::num_codes)
      .def_property_readonly("max_finite", &Format::max_finite)
      .def_property_readonly("lowest", &Format::lowest)
      .def_property_readonly("min_normal", &Format::min_normal)
      .def_property_readonly("min_subnormal", &Format::min_subnormal)
      .def_property_readonly("epsilon", &Format::epsilon)
      .def_property_readonly("emin", &Format::emin)
      .def_property_readonly("emax", &Format::emax)
      .def_property_readonly("has_inf", &Format::has_inf)
      .def_property_readonly("has_nan", &Format::has_nan)
      .def_property_readonly("is_scaled", [](const Format& f) { return f.kind == Kind::Scaled; })
      .def_property_readonly("is_fixed", [](const Format& f) { return f.kind == Kind::Fixed; })
      .def("__eq__", [](const Format& a, const Format& b) { return a == b; })
      .def("__hash__", [](const Format& f) { return std::hash<std::string>()(f.spelling); })
      .def("__repr__", [](const Format& f) { return "Format('" + f.spelling + "')"; })
      .def("__str__", [](const Format& f) { return f.spelling; });

  m.def("aliases", [] {
    std::size_t n = 0;
    const Alias* a = aliases(n);
    ::py::dict d;
    for (std::size_t i = 0; i < n; ++i) d[a[i].name] = a[i].meaning;
    return d;
  }, "Named formats and their meaning");

  m.def(
      "quantize",
      [](::py::array x, ::py::object fmt, const std::string& rounding, std::uint64_t seed, std::uint32_t stream,
         std::uint64_t index0, ::py::object out) -> ::py::array {
        const Format f = as_format(fmt);
        const Rounding r = parse_rounding(rounding);
        const RandomKey key{seed, stream};
        if (x.dtype().is(::py::dtype::of<float>())) return quantize_array<float>(x, f, r, key, index0, out);
        return quantize_array<double>(x, f, r, key, index0, out);
      },
      ::py::arg("x"), ::py::arg("format"), ::py::arg("rounding") = "rne", ::py::arg("seed") = 0,
      ::py::arg("stream") = 0, ::py::arg("index0") = 0, ::py::arg("out") = ::py::none(),
      "Round every element of x to `format` by `rounding`. float32 stays float32, anything else becomes float64. "
      "Stochastic rounding of element i uses (seed, stream, index0 + i), so results do not depend on threads.");

  m.def(
      "encode",
      [](::py::array_t<double, ::py::array::c_style | ::py::array::forcecast> v, ::py::object fmt) {
        const Format f = as_format(fmt);
        ::py::array_t<std::uint64_t> codes(std::vector<::py::ssize_t>(v.shape(), v.shape() + v.ndim()));
        for (::py::ssize_t i = 0; i < v.size(); ++i) codes.mutable_data()[i] = encode(v.data()[i], f);
        return codes;
      },
      ::py::arg("values"), ::py::arg("format"), "Bit patterns (uint64) of values of the format");
  m.def(
      "decode",
      [](::py::array_t<std::uint64_t, ::py::array::c_style | ::py::array::forcecast> c, ::py::object fmt) {
        const Format f = as_format(fmt);
        ::py::array_t<double> v(std::vector<::py::ssize_t>(c.shape(), c.shape() + c.ndim()));
        for (::py::ssize_t i = 0; i < c.size(); ++i) v.mutable_data()[i] = decode(c.data()[i], f);
        return v;
      },
      ::py::arg("codes"), ::py::arg("format"), "Values of bit patterns of the format");
}

}  // namespace lpsim::py
