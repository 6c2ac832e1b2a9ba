// Python view of sim/: MAC configurations, matmul and conv2d on NumPy arrays
// with their statistics. Inputs are read as float32 (copied only when they
// are not already C-contiguous float32): other floating-point dtypes are
// rounded to float32 by NumPy, integers and bools converted only when float32
// holds every value exactly; anything else is a TypeError. Sizes, seeds and
// other integers are range-checked (ValueError naming the argument). The GIL
// is released while computing.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "python/bindings.hpp"
#include "sim/conv.hpp"
#include "sim/cost.hpp"
#include "sim/gemm.hpp"

namespace py = pybind11;
using namespace lpsim::sim;

namespace lpsim::py {

// Argument checks shared with bind_arith.cpp (defined there).
std::uint64_t uint64_arg(const ::py::handle& o, const std::string& what);
std::int64_t int_arg(const ::py::handle& o, const std::string& what, std::int64_t lo, std::int64_t hi);
std::string shape_text(const ::py::array& a);
::py::array as_array(const ::py::handle& o, const std::string& what);
template <class F>
::py::array_t<F, ::py::array::c_style | ::py::array::forcecast> real_array(const ::py::array& x, const std::string& what,
                                                                            bool round_floats);
extern template ::py::array_t<float, ::py::array::c_style | ::py::array::forcecast> real_array<float>(
    const ::py::array&, const std::string&, bool);

namespace {

using F32 = ::py::array_t<float, ::py::array::c_style | ::py::array::forcecast>;

MacConfig as_mac(const ::py::object& o, const char* fn) {
  if (::py::isinstance<MacConfig>(o)) return o.cast<MacConfig>();
  if (!PyUnicode_Check(o.ptr()))
    throw ::py::type_error(std::string(fn) + ": mac must be a str or an lpsim.MacConfig, got " +
                           ::py::repr(o).cast<std::string>());
  return parse_mac(o.cast<std::string>());
}

constexpr std::int64_t kInt31 = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t kInt63 = std::numeric_limits<std::int64_t>::max();

std::int64_t checked_product(std::initializer_list<std::int64_t> xs, const std::string& what) {
  std::int64_t p = 1;
  for (std::int64_t x : xs)
    if (__builtin_mul_overflow(p, x, &p)) throw ::py::value_error(what + " overflows 64-bit integers (more than 2**63 - 1)");
  return p;
}

F32 operand(const ::py::object& o, const std::string& what) { return real_array<float>(as_array(o, what), what, true); }

::py::object rounded_format(const std::optional<Rounded>& r) {
  return r ? ::py::object(::py::str(r->format.spelling)) : ::py::object(::py::none());
}
::py::object rounded_mode(const std::optional<Rounded>& r) {
  return r ? ::py::object(::py::str(r->rounding.spelling())) : ::py::object(::py::none());
}

// MacConfig's knobs, one entry each, for Python introspection.
::py::dict mac_fields(const MacConfig& c) {
  ::py::dict d;
  d["a"] = rounded_format(c.a);
  d["a_round"] = rounded_mode(c.a);
  d["b"] = rounded_format(c.b);
  d["b_round"] = rounded_mode(c.b);
  d["prod"] = rounded_format(c.product);
  d["prod_round"] = rounded_mode(c.product);
  d["acc"] = c.acc.format.spelling;
  d["acc_round"] = c.acc.rounding.spelling();
  d["order"] = c.order == Order::Pairwise ? "pairwise" : c.order == Order::Fused ? "fused" : c.promote ? "chunk" : "seq";
  d["fused_n"] = c.fused_n;
  d["align"] = c.align_exact ? ::py::object(::py::str("exact")) : ::py::object(::py::int_(c.align_bits));
  d["promote"] = c.promote;
  d["interleave"] = c.interleave;
  d["outer"] = rounded_format(c.outer);
  d["outer_round"] = rounded_mode(c.outer);
  d["out"] = rounded_format(c.out);
  d["out_round"] = rounded_mode(c.out);
  d["c_late"] = c.c_late;
  d["split"] = c.split;
  d["c_drop"] = c.c_drop;
  d["scale"] = c.scale == ScaleKind::None ? ::py::object(::py::none())
                                           : ::py::object(::py::str(c.scale == ScaleKind::UE8M0 ? "ue8m0" : "ue4m3"));
  d["block"] = c.block;
  d["subsum"] = c.subsum;
  d["overflow"] = c.overflow_inf ? "inf" : "ieee";
  d["nan"] = c.nan_bits ? ::py::object(::py::int_(*c.nan_bits)) : ::py::object(::py::str("ieee"));
  d["zero_exp"] = c.zero_exp ? ::py::object(::py::int_(*c.zero_exp)) : ::py::object(::py::none());
  d["zero_sign"] = c.zero_plus ? "pos" : "ieee";
  d["prod_overflow"] = c.prod_inf ? "inf" : "ieee";
  return d;
}

::py::dict counts_dict(const MacCounts& c) {
  ::py::dict d;
  d["additions"] = c.additions;
  d["swamped"] = c.swamped;
  d["overflows"] = c.overflows;
  d["saturations"] = c.saturations;
  return d;
}

// MacConfig's read-only properties: one per entry of mac_fields, in its order, with what it holds.
struct FieldDoc {
  const char* name;
  const char* doc;
};
constexpr FieldDoc kMacFieldDocs[] = {
    {"a", "Operand A's format (canonical spelling, str, e.g. 'e5m10'), or None: A used as given (fp32 values). "
          "in= sets a and b."},
    {"a_round", "The rounding of A into its format (str, e.g. 'rne', 'sr'), or None where a is None."},
    {"b", "Operand B's format (canonical spelling, str), or None: B used as given (fp32 values)."},
    {"b_round", "The rounding of B into its format (str), or None where b is None."},
    {"prod", "The format every product is rounded to (str), or None: products exact (prod=exact, the default)."},
    {"prod_round", "The rounding of products into prod (str), or None where prod is None."},
    {"acc", "The accumulator's format (canonical spelling, str; default 'e8m23', fp32): rounded after every "
            "addition (seq, chunk, pairwise) or fused step."},
    {"acc_round", "The rounding into the accumulator (str, e.g. 'rne', 'rz', 'sr4')."},
    {"order", "The accumulation order (str): 'seq' (one accumulator), 'chunk' (seq with promotion every `chunk` "
              "terms into `outer`; spelled order=chunk<N>), 'pairwise' (a binary tree of rounded additions) or "
              "'fused' (fused_n-term fused additions, tensor cores; spelled order=fused<N>)."},
    {"fused_n", "order=fused<N>: the products per fused addition N (int); 0 for the other orders."},
    {"align", "Fused: the fraction bits (int, 0..40) kept below a step's largest exponent when aligning (terms "
              "truncated toward zero), or 'exact' (no truncation, one rounding of the exact sum); 0 for the other "
              "orders. guard=<g> is spelled as align = acc's mantissa bits + g."},
    {"promote", "Promotion period (int): > 0, every `promote` terms the accumulator is added into `outer` and "
                "restarted (order=chunk<N> for seq, promote=<N> for fused and pairwise); 0: no promotion."},
    {"interleave", "Fused with promote: groups of `interleave` consecutive terms of a promotion chunk dealt "
                   "round-robin to its steps (int; 0: none)."},
    {"outer", "The outer accumulator's format (str) where promote > 0, else None."},
    {"outer_round", "The rounding into the outer accumulator (str), or None where outer is None."},
    {"out", "The result's format (str), or None: results stay in the accumulator's format (outer's with "
            "promotion)."},
    {"out_round", "The rounding into out (str), or None where out is None."},
    {"c_late", "Fused, AMD CDNA3's step: the fraction bits F' (int) the products' sum is floored to below the "
               "larger of its and C's exponent; 0: off."},
    {"split", "With c_late: the number g of interleaved sub-sums of a step (int; 0: one)."},
    {"c_drop", "With c_late: a C more than d binades below the step's exponent is left out (int d; 0: off)."},
    {"scale", "Block-scale kind (str 'ue8m0' or 'ue4m3'), or None: operands unscaled. matmul then takes "
              "scale_a and scale_b."},
    {"block", "With scale: the k-block one scale covers (int, e.g. 32); 0 without scale."},
    {"subsum", "With scale: runs of `subsum` products summed exactly first, aligned by their scales alone (int; "
               "0: off)."},
    {"overflow", "'ieee' (str), or 'inf': every overflow gives +-inf whatever the rounding mode (tensor cores "
                 "under RZ)."},
    {"nan", "'ieee' (str), or the float32 bits (int, e.g. 0x7fffffff) every NaN result is delivered with."},
    {"zero_exp", "Fused: the exponent (int, e.g. -126) zero operands, a zero C and zero ue4m3 scales enter the "
                 "alignment with, or None: left out."},
    {"zero_sign", "'ieee' (str), or 'pos': every zero result of a fused step is +0."},
    {"prod_overflow", "'ieee' (str), or 'inf': a product beyond the accumulator's range makes the fused step "
                      "+-inf (NaN with both signs; AMD)."},
};

std::string repr_of(const ::py::object& o) { return ::py::repr(o).cast<std::string>(); }

}  // namespace

void bind_sim(::py::module_& m) {
  ::py::class_<MacConfig> mac(
      m, "MacConfig",
      "A MAC model (docs/formats.md, 'MAC configurations'): operand formats, products, accumulator, order, "
      "promotion, output and edge semantics of every dot product of a matmul or conv2d. Immutable; built from "
      "its spelling, e.g. MacConfig('in=fp16,acc=fp32,order=chunk32') or a preset name ('h800.fp8', see "
      "mac_presets()). Every knob is a read-only property (and all of them at once in .fields); "
      "repr() gives MacConfig('<canonical spelling>'), which evaluates back to an equal configuration. Equal "
      "configurations (== and hash) are those with the same canonical spelling.");
  mac.def(::py::init([](const std::string& s) { return parse_mac(s); }), ::py::arg("spelling"),
          "Parse a MAC spelling: 'key=value,...' (keys of docs/formats.md) or a preset name, optionally followed by "
          "overrides ('fp16.fp32,out=bf16'). Raises ValueError quoting the spelling and naming the bad key or "
          "value; TypeError when spelling is not a str.")
      .def_property_readonly("spelling", &MacConfig::spelling,
                             "The canonical spelling (str): every knob that differs from its default, formats in "
                             "canonical form (fp16 is 'e5m10'); MacConfig(c.spelling) == c.")
      .def_property_readonly("fields", &mac_fields,
                             "Every knob of the configuration (docs/formats.md, 'MAC configurations') as a dict: formats "
                             "and roundings as spellings (None where absent), numbers as ints; the keys are the "
                             "read-only properties of the same names");
  for (const FieldDoc& f : kMacFieldDocs) {
    const std::string name = f.name;
    mac.def_property_readonly(
        f.name, ::py::cpp_function([name](const MacConfig& c) -> ::py::object { return mac_fields(c)[name.c_str()]; }),
        f.doc);
  }
  mac.def_property_readonly(
         "chunk", [](const MacConfig& c) { return c.order == Order::Seq ? c.promote : 0; },
         "order=chunk<N>: N (int; the same as promote); 0 for the other orders.")
      .def_property_readonly(
          "result", [](const MacConfig& c) { return c.result().format.spelling; },
          "The format results are delivered in (str): out, else outer (with promotion), else acc.")
      .def("__getattr__",
           [](const MacConfig& c, const std::string& name) -> ::py::object {
             ::py::dict f = mac_fields(c);
             if (!f.contains(name.c_str()))
               throw ::py::attribute_error("MacConfig has no field '" + name + "' (fields: " +
                                           ::py::str(::py::list(f.attr("keys")())).cast<std::string>() + ")");
             return f[name.c_str()];
           },
           ::py::arg("name"), "Only reached for a name that is no attribute: AttributeError listing the fields.")
      .def("__eq__", [](const MacConfig& a, const MacConfig& b) { return a == b; }, ::py::is_operator(),
           ::py::arg("other"), "The same canonical spelling (another type: NotImplemented, so == is False).")
      .def("__hash__", [](const MacConfig& c) { return std::hash<std::string>()(c.spelling()); },
           "Hash of the canonical spelling (equal configurations hash alike).")
      .def("__repr__", [](const MacConfig& c) { return "MacConfig('" + c.spelling() + "')"; },
           "MacConfig('<canonical spelling>'), which evaluates back to an equal configuration.")
      .def("__str__", &MacConfig::spelling, "The canonical spelling.");

  m.def("mac_presets", [] {
    ::py::list out;
    for (const auto& p : mac_presets()) {
      ::py::dict d;
      d["name"] = p.name;
      d["spelling"] = p.spelling;
      d["instruction"] = p.instruction;
      d["validated"] = p.validated;
      d["source"] = p.source;
      out.append(d);
    }
    return out;
  }, "The named MAC presets (docs/gpu-presets.md) as a list of dicts of str: 'name' (what MacConfig and mac= "
     "take), 'spelling' (its full key=value spelling), 'instruction' (the instruction and device it models), "
     "'validated' (against what, with what result) and 'source' (the public source of each number).");

  ::py::class_<GemmStats>(m, "GemmStats",
                          "What one matrix product (matmul) or convolution (conv2d, as its im2col product) reported: "
                          "its shape, how often operands are reused, event counts (counts=True) and the error "
                          "against an fp64 reference (error=True). Read-only; made by matmul and conv2d only.")
      .def_readonly("m", &GemmStats::m, "Rows of the result (int): C (m x n) = A (m x k) @ B (k x n); conv2d: the "
                                        "output channels (cout; A is the weights).")
      .def_readonly("n", &GemmStats::n, "Columns of the result (int); conv2d: batch * output height * width.")
      .def_readonly("k", &GemmStats::k, "The accumulation length (int): terms per dot product; conv2d: "
                                        "cin/groups * kh * kw.")
      .def_readonly("usage_a", &GemmStats::usage_a,
                    "Outputs that read each element of A (float), on average (= n for matmul).")
      .def_readonly("usage_b", &GemmStats::usage_b,
                    "Outputs that read each element of B (float), on average (= m for matmul; conv2d: the "
                    "input's reuse, padding and stride included).")
      .def_readonly("usage_a_max", &GemmStats::usage_a_max, "The most outputs any one element of A feeds (float).")
      .def_readonly("usage_b_max", &GemmStats::usage_b_max, "The most outputs any one element of B feeds (float).")
      .def_readonly("depth", &GemmStats::depth, "The caller's depth= tag (int; -1 when not given): the layer's "
                                                "position in its model.")
      .def_readonly("tag", &GemmStats::tag, "The caller's tag= name for the product (str; '' when not given).")
      .def_property_readonly(
          "counts", [](const GemmStats& s) { return counts_dict(s.counts); },
          "Event counts (dict of int, over the whole product): 'additions' (rounded additions; a fused step counts "
          "once), 'swamped' (nonzero addends lost: the sum equalled the other addend, or a product truncated to "
          "zero when aligned), 'overflows' (results beyond the range that became inf/NaN or wrapped), "
          "'saturations' (results beyond the range clamped to the largest finite value). All 0 unless "
          "counts=True was passed.")
      .def_readonly("has_error", &GemmStats::has_error,
                    "Whether the error was measured (bool; error=True): max_rel_error, mean_rel_error and sqnr_db "
                    "are 0 otherwise.")
      .def_readonly("max_rel_error", &GemmStats::max_rel_error,
                    "The largest |result - ref| / |ref| (float) over the outputs with ref != 0, ref the fp64 "
                    "product of the rounded operands (plus c); conv2d with groups: the largest over the groups.")
      .def_readonly("mean_rel_error", &GemmStats::mean_rel_error,
                    "The mean |result - ref| / |ref| (float) over the outputs with ref != 0; conv2d with groups: "
                    "the mean of the groups' means.")
      .def_readonly("sqnr_db", &GemmStats::sqnr_db,
                    "Signal-to-quantization-noise ratio in dB (float): 10 log10(sum ref^2 / sum (result - ref)^2) "
                    "over every output; inf when the result is exact; conv2d with groups: the worst group's.")
      .def("__repr__", [](const GemmStats& s) {
        std::string r = "GemmStats(m=" + std::to_string(s.m) + ", n=" + std::to_string(s.n) + ", k=" +
                        std::to_string(s.k);
        if (!s.tag.empty()) r += ", tag=" + repr_of(::py::str(s.tag));
        if (s.depth != -1) r += ", depth=" + std::to_string(s.depth);
        r += ", additions=" + std::to_string(s.counts.additions) + ", swamped=" + std::to_string(s.counts.swamped) +
             ", overflows=" + std::to_string(s.counts.overflows) +
             ", saturations=" + std::to_string(s.counts.saturations);
        if (s.has_error)
          r += ", max_rel_error=" + repr_of(::py::float_(s.max_rel_error)) +
               ", mean_rel_error=" + repr_of(::py::float_(s.mean_rel_error)) +
               ", sqnr_db=" + repr_of(::py::float_(s.sqnr_db));
        return r + ")";
      }, "GemmStats(m=, n=, k=, [tag=, depth=,] the four counts[, max_rel_error=, mean_rel_error=, sqnr_db= "
         "when the error was measured]).");

  m.def(
      "matmul",
      [](const ::py::object& a_, const ::py::object& b_, const ::py::object& mac, const ::py::object& seed_,
         const ::py::object& stream_, bool error, const ::py::object& depth_, const std::string& tag, bool golden,
         bool counts, const ::py::object& c_, const ::py::object& sa_, const ::py::object& sb_) {
        const F32 a = operand(a_, "matmul: a"), b = operand(b_, "matmul: b");
        const MacConfig cfg = as_mac(mac, "matmul");
        const std::uint64_t seed = uint64_arg(seed_, "matmul: seed");
        const auto stream = std::uint32_t(int_arg(stream_, "matmul: stream", 0, std::numeric_limits<std::uint32_t>::max()));
        const int depth = int(int_arg(depth_, "matmul: depth", -1, kInt31));
        if (a.ndim() != 2 || b.ndim() != 2)
          throw ::py::value_error("matmul: A and B must be 2-D, got " + std::to_string(a.ndim()) + "-D and " +
                                  std::to_string(b.ndim()) + "-D (shapes " + shape_text(a) + " and " + shape_text(b) +
                                  ")");
        if (a.shape(1) != b.shape(0))
          throw ::py::value_error("matmul: shapes " + shape_text(a) + " and " + shape_text(b) + " do not align: " +
                                  std::to_string(a.shape(1)) + " != " + std::to_string(b.shape(0)));
        const std::int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
        checked_product({M, N, K}, "matmul: the product's m*n*k multiply-adds");
        F32 c({M, N});
        const bool add_c = !c_.is_none();
        if (add_c) {
          // D = A @ B + C: C is read (as A and B are), copied into the result, never written.
          const F32 addend = operand(c_, "matmul: c");
          if (addend.ndim() != 2 || addend.shape(0) != M || addend.shape(1) != N)
            throw ::py::value_error("matmul: c has shape " + shape_text(addend) + ", but A @ B has shape " +
                                    shape_text(c) + " (A " + shape_text(a) + ", B " + shape_text(b) +
                                    "); c must have the result's shape");
          if (M * N > 0) std::memcpy(c.mutable_data(), addend.data(), std::size_t(M * N) * sizeof(float));
        }
        // Block scales (scale= in the MAC): scale_a (m, k/block), scale_b (k/block, n), values of the scale kind.
        F32 sa, sb;
        if (sa_.is_none() != sb_.is_none())
          throw ::py::value_error("matmul: give both scale_a and scale_b, or neither");
        if (!sa_.is_none()) {
          if (cfg.scale == ScaleKind::None)
            throw ::py::value_error("matmul: scale_a/scale_b given, but the MAC \"" + cfg.spelling() +
                                    "\" has no scale= (block-scaled presets: blackwell.mxfp8, blackwell.mxfp4, "
                                    "blackwell.nvfp4, ...)");
          if (K % cfg.block)
            throw ::py::value_error("matmul: k=" + std::to_string(K) + " is not a multiple of the scale block " +
                                    std::to_string(cfg.block));
          sa = operand(sa_, "matmul: scale_a");
          sb = operand(sb_, "matmul: scale_b");
          const std::int64_t kb = K / cfg.block;
          if (sa.ndim() != 2 || sa.shape(0) != M || sa.shape(1) != kb)
            throw ::py::value_error("matmul: scale_a has shape " + shape_text(sa) + ", expected (" + std::to_string(M) +
                                    ", " + std::to_string(kb) + "): one scale per row of A and block of " +
                                    std::to_string(cfg.block));
          if (sb.ndim() != 2 || sb.shape(0) != kb || sb.shape(1) != N)
            throw ::py::value_error("matmul: scale_b has shape " + shape_text(sb) + ", expected (" + std::to_string(kb) +
                                    ", " + std::to_string(N) + "): one scale per block of " +
                                    std::to_string(cfg.block) + " and column of B");
        } else if (cfg.scale != ScaleKind::None) {
          throw ::py::value_error("matmul: the MAC \"" + cfg.spelling() + "\" is block-scaled: give scale_a (m, k/" +
                                  std::to_string(cfg.block) + ") and scale_b (k/" + std::to_string(cfg.block) + ", n)");
        }
        GemmStats st;
        GemmArgs g{M, N, K, a.data(), K, false, b.data(), N, false, c.mutable_data(), N, add_c};
        if (!sa_.is_none()) g.scale_a = sa.data(), g.scale_b = sb.data();
        {
          ::py::gil_scoped_release nogil;
          (golden ? gemm_golden : gemm)(cfg, g, {seed, stream}, &st, {counts, error, depth, tag});
        }
        return ::py::make_tuple(c, st);
      },
      ::py::arg("a"), ::py::arg("b"), ::py::arg("mac") = "fp32", ::py::arg("seed") = 0, ::py::arg("stream") = 0,
      ::py::arg("error") = false, ::py::arg("depth") = -1, ::py::arg("tag") = "", ::py::arg("golden") = false,
      ::py::arg("counts") = false, ::py::arg("c") = ::py::none(), ::py::arg("scale_a") = ::py::none(),
      ::py::arg("scale_b") = ::py::none(),
      "C = A @ B (A @ B + c with c) on the emulated MAC. a: (m, k), b: (k, n), array-likes of real numbers; returns "
      "(the result, a new C-contiguous float32 array of shape (m, n), GemmStats). mac: a MacConfig or its spelling "
      "(a str; a bad one raises ValueError naming the key). A and B are read as float32 (see the "
      "module notes: other floats are rounded to float32 first, integers must fit exactly). seed is in "
      "[0, 2**64 - 1], stream in [0, 2**32 - 1], depth in [-1, 2**31 - 1]. error=True also measures the error "
      "against an fp64 product of the rounded operands (plus c); golden=True runs the slow reference model; "
      "counts=True also counts the events (additions, swamped, overflows, saturations); the default, False, "
      "lets the vectorised paths run (see lpsim.gemm_path; most of them cannot count yet).\n\n"
      "c: an addend, D = A @ B + c (BLAS beta = 1): a 2-D array of the result's shape (m, n), read as float32 "
      "as A and B are; infinities and NaNs are data. It enters unrounded, as the accumulator's initial value "
      "(with promotion the outer accumulator's; pairwise: one more rounded addition; sim/README.md). c is never "
      "written: the result is a new array. With c the float-lane and integer kernels give way to the tiled "
      "path (bit-identical, slower); the tensor-core lanes (fused-lanes) start from c.\n\n"
      "scale_a, scale_b: block scales for a block-scaled MAC (scale= in its spelling: blackwell.mxfp8, "
      "blackwell.mxfp4, blackwell.nvfp4): scale_a[i, q] scales A[i, q*block:(q+1)*block], scale_b[q, j] scales "
      "B[q*block:(q+1)*block, j]; values of the scale kind (ue8m0: powers of two 2^-127..2^127; ue4m3: 0..448 on "
      "e4m3's grid; NaN allowed), applied inside the fused adder as the hardware does (docs/gpu-presets.md).\n\n"
      "Errors: ValueError for operands that are not 2-D or do not align, a c or scales of the wrong shape, scales "
      "with a MAC without scale= (or none with one), out-of-range seed/stream/depth; TypeError for non-numeric "
      "arrays (complex, str, object) or a mac that is neither str nor MacConfig. lpsim.matmul (the package's "
      "wrapper) also takes CPU torch tensors and then returns torch tensors.");

  m.def(
      "conv2d",
      [](const ::py::object& x_, const ::py::object& w_, const ::py::object& mac, const ::py::object& stride_,
         const ::py::object& padding_, const ::py::object& groups_, const ::py::object& seed_, bool error,
         const ::py::object& depth_, const std::string& tag, bool counts) {
        const F32 x = operand(x_, "conv2d: x"), w = operand(w_, "conv2d: w");
        const MacConfig cfg = as_mac(mac, "conv2d");
        const std::int64_t stride = int_arg(stride_, "conv2d: stride", 1, kInt31);
        const std::int64_t padding = int_arg(padding_, "conv2d: padding", 0, kInt31);
        const std::int64_t groups = int_arg(groups_, "conv2d: groups", 1, kInt31);
        const std::uint64_t seed = uint64_arg(seed_, "conv2d: seed");
        const int depth = int(int_arg(depth_, "conv2d: depth", -1, kInt31));
        if (x.ndim() != 4)
          throw ::py::value_error("conv2d: x must be 4-D (batch, channels, height, width), got shape " + shape_text(x));
        if (w.ndim() != 4)
          throw ::py::value_error("conv2d: w must be 4-D (cout, cin/groups, kh, kw), got shape " + shape_text(w));
        for (int i = 0; i < 4; ++i) {
          if (x.shape(i) < 1)
            throw ::py::value_error("conv2d: x has shape " + shape_text(x) + "; every dimension must be positive");
          if (w.shape(i) < 1)
            throw ::py::value_error("conv2d: w has shape " + shape_text(w) + "; every dimension must be positive");
        }
        ConvShape s{x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0), w.shape(2), w.shape(3),
                    stride,     stride,     padding,    padding,    groups};
        s.check();
        if (w.shape(1) * groups != x.shape(1))
          throw ::py::value_error("conv2d: weights have " + std::to_string(w.shape(1)) +
                                  " input channels per group, x has " + std::to_string(x.shape(1)) +
                                  " channels in " + std::to_string(groups) + " groups");
        const std::int64_t oh = s.out_h(), ow = s.out_w();
        checked_product({s.batch, s.cout, oh, ow}, "conv2d: the output's size (padding " + std::to_string(padding) + ")");
        checked_product({s.batch, oh, ow, s.cin / groups, s.kh, s.kw, std::max<std::int64_t>(s.cout / groups, 1)},
                        "conv2d: the lowered product's multiply-adds (padding " + std::to_string(padding) + ")");
        F32 y({s.batch, s.cout, oh, ow});
        GemmStats st;
        {
          ::py::gil_scoped_release nogil;
          conv2d(cfg, s, x.data(), w.data(), y.mutable_data(), {seed, 0}, &st, {counts, error, depth, tag});
        }
        return ::py::make_tuple(y, st);
      },
      ::py::arg("x"), ::py::arg("w"), ::py::arg("mac") = "fp32", ::py::arg("stride") = 1, ::py::arg("padding") = 0,
      ::py::arg("groups") = 1, ::py::arg("seed") = 0, ::py::arg("error") = false, ::py::arg("depth") = -1,
      ::py::arg("tag") = "", ::py::arg("counts") = false,
      "2-D convolution (im2col; cross-correlation as torch.nn.functional.conv2d, no bias) on the emulated MAC. "
      "x: (batch, cin, h, w); w: (cout, cin/groups, kh, kw); returns (y, GemmStats), y a new float32 array of shape "
      "(batch, cout, (h + 2*padding - kh) // stride + 1, (w + 2*padding - kw) // stride + 1); the stats are the "
      "lowered product's (m = cout, k = cin/groups*kh*kw), counts and error as for matmul. x and w are "
      "read as matmul reads its operands; stride and groups are in [1, 2**31 - 1], padding in [0, 2**31 - 1], seed "
      "in [0, 2**64 - 1]. Raises ValueError for other ranks, empty dimensions, groups not dividing the channels, "
      "a kernel larger than the padded input or a bad mac; TypeError as matmul. lpsim.conv2d also takes CPU torch "
      "tensors (then returns torch tensors).");

  m.def("gemm_path", [](::py::object mac) { return std::string(gemm_path(as_mac(mac, "gemm_path"))); }, ::py::arg("mac"),
        "The name (str) of the fast-path kernel matmul uses for this MAC (a MacConfig or its spelling) without event "
        "counts: 'fma-fp32', 'integer', 'float-lanes', 'fused-lanes', 'tiled' or 'fused'. ValueError for a bad "
        "spelling.");

  m.def(
      "bitops",
      [](const ::py::object& mac, const ::py::object& m_, const ::py::object& n_, const ::py::object& k_) {
        const MacConfig cfg = as_mac(mac, "bitops");
        const std::int64_t mm = int_arg(m_, "bitops: m", 0, kInt63), n = int_arg(n_, "bitops: n", 0, kInt63),
                           k = int_arg(k_, "bitops: k", 0, kInt63);
        checked_product({mm, n, k}, "bitops: m*n*k");
        return bitops(cfg, mm, n, k);
      },
      ::py::arg("mac"), ::py::arg("m"), ::py::arg("n"), ::py::arg("k"),
      "BitOPs (float) of an m x k by k x n product on this MAC (a MacConfig or its spelling): m*n*k MACs x A's "
      "operand bits x B's (32 where the MAC has no operand format). m, n, k are integers >= 0 with m*n*k < 2**63, "
      "else ValueError.");
}

}  // namespace lpsim::py
