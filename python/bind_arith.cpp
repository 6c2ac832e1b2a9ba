// Python view of arith/: formats, rounding, quantize on NumPy arrays (float32
// and float64 without copies), encode/decode of bit patterns.
//
// Argument checks (shared with bind_sim.cpp, declared there): every array
// argument either converts exactly (integers that fit, float16) or raises a
// TypeError/ValueError naming the argument and what is wrong; integer
// arguments are range-checked before they reach C++ types, so nothing wraps.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "arith/arith.hpp"
#include "arith/isa.hpp"
#include "python/bindings.hpp"

namespace py = pybind11;
using namespace lpsim::arith;

namespace lpsim::py {

// ---- shared argument checks (also used by bind_sim.cpp) ---------------------

// "2**64 - 1" for the limits people recognise, else the decimal value.
std::string bound_text(std::int64_t v) {
  if (v == std::numeric_limits<std::int64_t>::max()) return "2**63 - 1";
  if (v == std::numeric_limits<std::int32_t>::max()) return "2**31 - 1";
  if (v == std::numeric_limits<std::uint32_t>::max()) return "2**32 - 1";
  return std::to_string(v);
}

namespace {

std::string short_repr(const ::py::handle& o) {
  std::string r = ::py::repr(o).cast<std::string>();
  if (r.size() > 60) r = r.substr(0, 57) + "...";
  return r;
}

// o as a Python int (anything with __index__: int, numpy integers), or a
// TypeError naming the argument; bool is refused as almost surely a mistake.
::py::int_ index_of(const ::py::handle& o, const std::string& what) {
  if (PyBool_Check(o.ptr()) || !PyIndex_Check(o.ptr()))
    throw ::py::type_error(what + " must be an integer, got " + short_repr(o) + " of type " +
                           std::string(Py_TYPE(o.ptr())->tp_name));
  PyObject* i = PyNumber_Index(o.ptr());
  if (!i) throw ::py::error_already_set();
  return ::py::reinterpret_steal<::py::int_>(i);
}

bool less(const ::py::handle& a, const ::py::handle& b) {
  const int r = PyObject_RichCompareBool(a.ptr(), b.ptr(), Py_LT);
  if (r < 0) throw ::py::error_already_set();
  return r == 1;
}

}  // namespace

std::uint64_t uint64_arg(const ::py::handle& o, const std::string& what) {
  const ::py::int_ v = index_of(o, what);
  const ::py::int_ hi(std::numeric_limits<std::uint64_t>::max());
  if (less(v, ::py::int_(0)) || less(hi, v))
    throw ::py::value_error(what + " must be an integer in [0, 2**64 - 1], got " + short_repr(v));
  return PyLong_AsUnsignedLongLong(v.ptr());
}

std::int64_t int_arg(const ::py::handle& o, const std::string& what, std::int64_t lo, std::int64_t hi) {
  const ::py::int_ v = index_of(o, what);
  if (less(v, ::py::int_(lo)) || less(::py::int_(hi), v))
    throw ::py::value_error(what + " must be an integer in [" + bound_text(lo) + ", " + bound_text(hi) + "], got " +
                            short_repr(v));
  return PyLong_AsLongLong(v.ptr());
}

std::string shape_text(const ::py::array& a) {  // as NumPy prints it: (), (10,), (2, 5)
  std::string s = "(";
  for (::py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

std::string dtype_text(const ::py::array& a) { return ::py::str(a.dtype()).cast<std::string>(); }

namespace {

bool native_order(const ::py::dtype& d) {
  const char b = d.byteorder();
  return b == '=' || b == '|' || (std::endian::native == std::endian::little ? b == '<' : b == '>');
}

// The first element of the integer array a (of type I) that F cannot hold exactly, or -1.
template <class I, class F>
std::int64_t first_inexact(const ::py::array& a) {
  const auto v = ::py::array_t<I, ::py::array::c_style | ::py::array::forcecast>::ensure(a);
  if (!v) throw ::py::error_already_set();
  const F top = std::ldexp(F(1), std::numeric_limits<I>::digits);  // 2**63, 2**64, 2**31, ...: one past the range
  const I* p = v.data();
  for (::py::ssize_t i = 0; i < v.size(); ++i) {
    const F f = static_cast<F>(p[i]);
    if (!(f < top) || static_cast<I>(f) != p[i]) return i;
  }
  return -1;
}

template <class F>
std::int64_t first_inexact_int(const ::py::array& a) {
  const bool s = a.dtype().kind() == 'i';
  switch (a.dtype().itemsize()) {
    case 1: return s ? first_inexact<std::int8_t, F>(a) : first_inexact<std::uint8_t, F>(a);
    case 2: return s ? first_inexact<std::int16_t, F>(a) : first_inexact<std::uint16_t, F>(a);
    case 4: return s ? first_inexact<std::int32_t, F>(a) : first_inexact<std::uint32_t, F>(a);
    default: return s ? first_inexact<std::int64_t, F>(a) : first_inexact<std::uint64_t, F>(a);
  }
}

}  // namespace

::py::array as_array(const ::py::handle& o, const std::string& what) {
  if (::py::isinstance<::py::array>(o)) return ::py::reinterpret_borrow<::py::array>(o);
  if (PyUnicode_Check(o.ptr()) || PyBytes_Check(o.ptr()) || o.is_none())
    throw ::py::type_error(what + " must be an array of numbers, got " + short_repr(o));
  ::py::array a = ::py::array::ensure(o);
  if (!a) throw ::py::error_already_set();
  return a;
}

// x (an array of real numbers) as a C-contiguous array of F (float or
// double), converting only where that is exact: floating-point inputs of at
// most F's width (and, when round_floats, any float: matmul reads float32),
// integers and bools whose every value F holds. Anything else raises a
// TypeError (complex, strings, objects, ...) or a ValueError naming the first
// element that would change.
template <class F>
::py::array_t<F, ::py::array::c_style | ::py::array::forcecast> real_array(const ::py::array& x, const std::string& what,
                                                                            bool round_floats) {
  const char kind = x.dtype().kind();
  const char* name = sizeof(F) == 4 ? "float32" : "float64";
  if (kind == 'f') {
    if (x.dtype().itemsize() > ::py::ssize_t(sizeof(double)) && !round_floats)
      throw ::py::type_error(what + " has dtype " + dtype_text(x) + "; lpsim computes in float32 and float64, so " +
                             dtype_text(x) + " input would be rounded first: convert it with .astype(np.float64)");
  } else if (kind == 'i' || kind == 'u') {
    if (x.dtype().itemsize() * 8 > std::numeric_limits<F>::digits) {
      if (const std::int64_t at = first_inexact_int<F>(x); at >= 0) {
        const ::py::object flat = x.attr("reshape")(-1);
        throw ::py::value_error(what + ": element " + std::to_string(at) + " (flat index) is " +
                                short_repr(flat[::py::int_(at)]) + ", which " + name +
                                " cannot hold exactly; convert the array to floats first if that rounding is wanted");
      }
    }
  } else if (kind != 'b') {
    throw ::py::type_error(what + " has dtype " + dtype_text(x) + "; expected real numbers (float, integer or bool)" +
                           (kind == 'c' ? ": lpsim does not round complex numbers" : ""));
  }
  auto a = ::py::array_t<F, ::py::array::c_style | ::py::array::forcecast>::ensure(x);
  if (!a) throw ::py::error_already_set();
  return a;
}

template ::py::array_t<float, ::py::array::c_style | ::py::array::forcecast> real_array<float>(const ::py::array&,
                                                                                               const std::string&, bool);

namespace {

Format as_format(const ::py::handle& o, const char* fn) {
  if (::py::isinstance<Format>(o)) return o.cast<Format>();
  if (!PyUnicode_Check(o.ptr()))
    throw ::py::type_error(std::string(fn) + ": format must be a str or an lpsim.Format, got " + short_repr(o));
  return parse_format(o.cast<std::string>());
}

Rounding as_rounding(const ::py::handle& o) {
  if (!PyUnicode_Check(o.ptr())) throw ::py::type_error("quantize: rounding must be a str, got " + short_repr(o));
  return parse_rounding(o.cast<std::string>());
}

// `out` checked against the result it will hold: exactly dtype T, x's shape,
// C-contiguous, aligned and writeable. Raises TypeError/ValueError saying what
// differs; never converts (a converted copy would silently not be written).
template <class T>
::py::array check_out(const ::py::handle& o, const ::py::array& x) {
  if (!::py::isinstance<::py::array>(o))
    throw ::py::type_error("quantize: out must be a NumPy array, got " + short_repr(o) + " of type " +
                           std::string(Py_TYPE(o.ptr())->tp_name));
  const auto out = ::py::reinterpret_borrow<::py::array>(o);
  if (out.dtype().kind() != 'f' || out.dtype().itemsize() != ::py::ssize_t(sizeof(T)) || !native_order(out.dtype()))
    throw ::py::type_error("quantize: out has dtype " + dtype_text(out) + ", but the result is " +
                           std::string(sizeof(T) == 4 ? "float32" : "float64") + " (float32 for float32 x, else float64)");
  bool same_shape = out.ndim() == x.ndim();
  for (::py::ssize_t i = 0; same_shape && i < x.ndim(); ++i) same_shape = out.shape(i) == x.shape(i);
  if (!same_shape)
    throw ::py::value_error("quantize: out has shape " + shape_text(out) + ", x has shape " + shape_text(x) +
                            "; they must be equal");
  if (!out.writeable()) throw ::py::value_error("quantize: out is read-only");
  if (!(out.flags() & ::py::array::c_style)) throw ::py::value_error("quantize: out must be C-contiguous");
  if (!(out.flags() & ::py::detail::npy_api::NPY_ARRAY_ALIGNED_)) throw ::py::value_error("quantize: out is not aligned");
  return out;
}

// Quantizes x (converted to a C-contiguous array of T) into a new array of
// x's shape, or into `out`. out may be x itself (in place); an out that
// partly overlaps the input's memory gets its result from a copy of the
// input, so the answer never depends on the overlap. The GIL is released
// while the C++ core works.
template <class T>
::py::array quantize_array(const ::py::array& x, const Format& f, Rounding r, RandomKey key, std::uint64_t index0,
                           const ::py::handle& out) {
  auto in = real_array<T>(x, "quantize: x", false);
  const std::size_t n = std::size_t(in.size());
  if (n > 0 && index0 > std::numeric_limits<std::uint64_t>::max() - (n - 1))
    throw ::py::value_error("quantize: index0 + x.size - 1 must be at most 2**64 - 1 (the last element's random index); "
                            "got index0 = " + std::to_string(index0) + " with " + std::to_string(n) + " elements");
  ::py::array result;
  if (out.is_none()) {
    result = ::py::array_t<T>(std::vector<::py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  } else {
    result = check_out<T>(out, x);
    const auto* ib = reinterpret_cast<const unsigned char*>(in.data());
    auto* ob = static_cast<unsigned char*>(result.mutable_data());
    const std::size_t bytes = n * sizeof(T);
    if (n > 0 && ib != ob && ib < ob + bytes && ob < ib + bytes) {  // partial overlap: read from a copy
      ::py::array_t<T> copy(std::vector<::py::ssize_t>(x.shape(), x.shape() + x.ndim()));
      std::memcpy(copy.mutable_data(), in.data(), bytes);
      in = copy;
    }
  }
  if (n == 0) return result;
  const T* ip = in.data();
  T* op = static_cast<T*>(result.mutable_data());
  {
    ::py::gil_scoped_release nogil;
    quantize(ip, op, n, f, r, key, index0);
  }
  return result;
}


// The numeric queries of Format describe absolute formats; a scaled format's range depends on its scales.
void check_absolute(const Format& f, const char* what) {
  if (f.kind != Kind::Scaled) return;
  std::string msg = "Format." + std::string(what) + ": \"" + f.spelling +
                    "\" is a scaled format (its values depend on its scales)";
  if (f.scaled.elem) msg += "; ask its element format, Format(\"" + f.scaled.elem->spelling + "\")";
  throw ::py::value_error(msg);
}

template <class R>
auto absolute(R (Format::*query)() const, const char* what) {
  return [query, what](const Format& f) {
    check_absolute(f, what);
    return (f.*query)();
  };
}

}  // namespace

void bind_arith(::py::module_& m) {
  ::py::register_exception<FormatError>(m, "FormatError", PyExc_ValueError)
      .attr("__doc__") = "A format spelling that does not parse (a ValueError): the message quotes the spelling and "
                         "says what is wrong.";

  ::py::class_<Format> fmt(
      m, "Format",
      "A number format (docs/formats.md), parsed from its spelling: a minifloat ('e4m3fn', 'bf16', "
      "'e5m2:sat'), fixed point ('fx8.4', 'int8', 'ufx8.8:wrap') or a scaled / MX format applied by the training "
      "quantizers ('int8/minmax/channel', 'mxfp8e4m3'). Immutable; == and hash compare canonical spellings. The "
      "numeric properties describe absolute formats (is_scaled False); on a scaled format they raise ValueError, "
      "its range depending on its scales (ask its element format).");
  fmt.def(::py::init([](const std::string& s) { return parse_format(s); }), ::py::arg("spelling"),
          "Parse a format spelling; raises lpsim.FormatError (a ValueError) quoting it and listing the valid forms, "
          "TypeError when spelling is not a str.")
      .def_readonly("spelling", &Format::spelling,
                    "The canonical spelling (str), as the parser reads it back: Format(f.spelling) == f (aliases "
                    "resolved: Format('fp16').spelling == 'e5m10').")
      .def_property_readonly("bits", absolute(&Format::bits, "bits"),
                             "Storage bits of one element (int): 1 + E + M for a minifloat e<E>m<M>, W for fixed point.")
      .def_property_readonly(
          "num_codes",
          [](const Format& f) {
            check_absolute(f, "num_codes");
            return ::py::int_(1).attr("__lshift__")(f.bits());
          },
          "The number of bit patterns of one element (int): 2**bits (a Python int: 2**64 for a 64-bit format).")
      .def_property_readonly("max_finite", absolute(&Format::max_finite, "max_finite"),
                             "The largest finite value (float).")
      .def_property_readonly("lowest", absolute(&Format::lowest, "lowest"),
                             "The most negative finite value (float): -max_finite for a minifloat; fixed point: "
                             "-2**(W-1-F) signed, 0 unsigned.")
      .def_property_readonly("min_normal", absolute(&Format::min_normal, "min_normal"),
                             "The smallest positive normal value (float), 2**emin; fixed point: the resolution 2**-F.")
      .def_property_readonly("min_subnormal", absolute(&Format::min_subnormal, "min_subnormal"),
                             "The smallest positive value (float): 2**(emin - M), or min_normal under :nosub; fixed "
                             "point: 2**-F.")
      .def_property_readonly("epsilon", absolute(&Format::epsilon, "epsilon"),
                             "The gap between 1 and the next value (float): 2**-M for a minifloat; fixed point: the "
                             "resolution 2**-F.")
      .def_property_readonly("emin", absolute(&Format::emin, "emin"),
                             "The exponent of the smallest normal value (int): 1 - bias for a minifloat; fixed "
                             "point: -F.")
      .def_property_readonly("emax", absolute(&Format::emax, "emax"),
                             "The exponent of the largest finite value (int); fixed point: floor(log2(max_finite)).")
      .def_property_readonly("has_inf", absolute(&Format::has_inf, "has_inf"),
                             "Whether the format has infinities (bool): IEEE-style minifloats only (not fn, fnuz, "
                             "fixed point).")
      .def_property_readonly("has_nan", absolute(&Format::has_nan, "has_nan"),
                             "Whether the format has a NaN code (bool): minifloats except :nonan and e<E>m0.")
      .def_property_readonly("is_scaled", [](const Format& f) { return f.kind == Kind::Scaled; },
                             "Whether this is a scaled or MX format (bool; '<elem>/<rule>/<granularity>', "
                             "'mxfp8e4m3', ...), applied by lpsim.quantize as the training quantizers do.")
      .def_property_readonly("is_fixed", [](const Format& f) { return f.kind == Kind::Fixed; },
                             "Whether this is a fixed-point format (bool; fx<W>.<F>, ufx<W>.<F>, int<W>, uint<W>).")
      .def("__eq__", [](const Format& a, const Format& b) { return a == b; }, ::py::is_operator(), ::py::arg("other"),
           "The same canonical spelling (another type: NotImplemented, so == is False).")
      .def("__hash__", [](const Format& f) { return std::hash<std::string>()(f.spelling); },
           "Hash of the canonical spelling.")
      .def("__repr__", [](const Format& f) { return "Format('" + f.spelling + "')"; },
           "Format('<canonical spelling>'), which evaluates back to an equal format.")
      .def("__str__", [](const Format& f) { return f.spelling; }, "The canonical spelling.");

  m.def("isa", [] { return std::string(isa_name(isa())); },
        "The ISA level the vector paths use: 'scalar', 'avx2', 'avx512' or 'amx' (arith/isa.hpp): the host's, lowered by "
        "the LPSIM_ISA environment variable or set_isa(). Returns a str.");
  m.def("host_isa", [] { return std::string(isa_name(host_isa())); }, "The highest ISA level this CPU supports (str: 'scalar', 'avx2', 'avx512' or 'amx').");
  m.def(
      "set_isa",
      [](const std::string& name) {
        try {
          return std::string(isa_name(set_isa(parse_isa(name))));
        } catch (const std::invalid_argument& e) {
          throw ::py::value_error(std::string("set_isa: ") + e.what());
        }
      },
      ::py::arg("level"),
      "Lower (or restore, up to the host's) the ISA level for the whole process: level is 'scalar', 'avx2', "
      "'avx512' or 'amx' (str); a level above host_isa() is capped at it. Returns the level set (str). Every "
      "level gives the same bits (the tests compare each with the golden models). ValueError for another name.");
  m.def("cpu_flags", [] { return cpu_flags(); }, "The host's vector feature flags (from /proc/cpuinfo) as one space-separated str, e.g. 'fma avx2 avx512f ...'.");
  m.def("aliases", [] {
    std::size_t n = 0;
    const Alias* a = aliases(n);
    ::py::dict d;
    for (std::size_t i = 0; i < n; ++i) d[a[i].name] = a[i].meaning;
    return d;
  }, "The named formats (aliases such as 'fp16', 'bf16', 'fp8e4m3', 'mxfp8e4m3') as a dict {alias: meaning}, both str.");

  m.def(
      "quantize",
      [](const ::py::object& x_, const ::py::object& fmt, const ::py::object& rounding, const ::py::object& seed_,
         const ::py::object& stream_, const ::py::object& index0_, const ::py::object& out) -> ::py::array {
        const ::py::array x = as_array(x_, "quantize: x");
        const Format f = as_format(fmt, "quantize");
        const Rounding r = as_rounding(rounding);
        const RandomKey key{uint64_arg(seed_, "quantize: seed"),
                            std::uint32_t(int_arg(stream_, "quantize: stream", 0, std::numeric_limits<std::uint32_t>::max()))};
        const std::uint64_t index0 = uint64_arg(index0_, "quantize: index0");
        const bool f32 = x.dtype().kind() == 'f' && x.dtype().itemsize() == 4;
        if (f32) return quantize_array<float>(x, f, r, key, index0, out);
        return quantize_array<double>(x, f, r, key, index0, out);
      },
      ::py::arg("x"), ::py::arg("format"), ::py::arg("rounding") = "rne", ::py::arg("seed") = 0,
      ::py::arg("stream") = 0, ::py::arg("index0") = 0, ::py::arg("out") = ::py::none(),
      "Round every element of x to `format` by `rounding`. float32 stays float32; float16, bool and integer input "
      "becomes float64 (integers only when float64 holds them exactly, else ValueError); complex, string and object "
      "arrays raise TypeError. Stochastic rounding of element i uses (seed, stream, index0 + i), so results do not "
      "depend on threads. seed and index0 are in [0, 2**64 - 1], stream in [0, 2**32 - 1].\n\n"
      "out: an array to write the result into and return: exactly the result's dtype (float32 for float32 x, else "
      "float64), x's shape, C-contiguous, aligned and writeable, else TypeError/ValueError (never a silent copy). "
      "out=x rounds in place without a copy; an out that only partly overlaps x is computed from a copy of x, so "
      "the result is as if x had been copied first.\n\n"
      "format: a Format or its spelling (absolute formats only here; lpsim.quantize also takes scaled and MX "
      "formats); rounding: a rounding spelling ('rne', 'rna', 'rz', 'ru', 'rd', 'ro', 'sr', 'sr<bits>', ... "
      "docs/formats.md). Returns a new array of x's shape (or out). Errors: FormatError for a bad format, "
      "ValueError for a bad rounding or an out-of-range integer, TypeError for a format or rounding of another "
      "type.");

  m.def(
      "encode",
      [](const ::py::object& v_, const ::py::object& fmt) {
        const auto v = real_array<double>(as_array(v_, "encode: values"), "encode: values", false);
        const Format f = as_format(fmt, "encode");
        const std::vector<::py::ssize_t> shape(v.shape(), v.shape() + v.ndim());
        const auto fill = [&](auto zero) -> ::py::array {
          using U = decltype(zero);
          ::py::array_t<U> codes(shape);
          for (::py::ssize_t i = 0; i < v.size(); ++i) codes.mutable_data()[i] = U(encode(v.data()[i], f));
          return codes;
        };
        const int bits = f.bits();
        if (bits <= 8) return fill(std::uint8_t{});
        if (bits <= 16) return fill(std::uint16_t{});
        if (bits <= 32) return fill(std::uint32_t{});
        return fill(std::uint64_t{});
      },
      ::py::arg("values"), ::py::arg("format"),
      "Bit patterns of values of the format (values converted to float64 as quantize converts x), in the "
      "narrowest unsigned dtype that holds the format's bits: uint8 up to 8 bits, uint16, uint32, else uint64; an "
      "array of values' shape. format: a Format or its spelling (absolute formats). ValueError for a value that is "
      "not exactly a value of the format (quantize it first) or a scaled format; TypeError for non-real values.");
  m.def(
      "decode",
      [](const ::py::object& c_, const ::py::object& fmt) {
        const ::py::array c0 = as_array(c_, "decode: codes");
        const char kind = c0.dtype().kind();
        if (kind != 'i' && kind != 'u')
          throw ::py::type_error("decode: codes has dtype " + dtype_text(c0) +
                                 "; bit patterns must be integers (e.g. .astype(np.uint64))");
        if (kind == 'i') {
          const auto s = ::py::array_t<std::int64_t, ::py::array::c_style | ::py::array::forcecast>::ensure(c0);
          if (!s) throw ::py::error_already_set();
          for (::py::ssize_t i = 0; i < s.size(); ++i)
            if (s.data()[i] < 0)
              throw ::py::value_error("decode: code " + std::to_string(s.data()[i]) + " at flat index " +
                                      std::to_string(i) + " is negative; bit patterns are non-negative");
        }
        const auto c = ::py::array_t<std::uint64_t, ::py::array::c_style | ::py::array::forcecast>::ensure(c0);
        if (!c) throw ::py::error_already_set();
        const Format f = as_format(fmt, "decode");
        ::py::array_t<double> v(std::vector<::py::ssize_t>(c.shape(), c.shape() + c.ndim()));
        for (::py::ssize_t i = 0; i < c.size(); ++i) v.mutable_data()[i] = decode(c.data()[i], f);
        return v;
      },
      ::py::arg("codes"), ::py::arg("format"), "Values of bit patterns of the format: codes an integer array-like (non-negative), returning a float64 array "
      "of its shape. format: a Format or its spelling (absolute formats). TypeError for non-integer codes; "
      "ValueError for a negative code, a code with bits beyond the format's, or a scaled format.");
}

}  // namespace lpsim::py
