#include "sim/mac_config.hpp"

#include <bit>
#include <charconv>
#include <cstdio>
#include <map>
#include <stdexcept>

namespace lpsim::sim {

namespace {

using arith::Format;
using arith::Kind;
using arith::Mode;
using arith::Rounding;

[[noreturn]] void fail(std::string_view whole, const std::string& why) {
  throw std::invalid_argument("invalid MAC configuration \"" + std::string(whole) + "\": " + why);
}

bool take_positive(std::string_view s, int& out) {
  if (s.empty() || s.size() > 7) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && out >= 1;
}

int significant_bits(const Format& f) { return f.kind == Kind::Fixed ? f.width : f.man_bits + 1; }

// Checks that a rounding into `f` is exact through the engine's round-to-odd
// step (exact_sum.hpp): at least two bits of a double beyond the format.
void check_target(std::string_view whole, const char* key, const Rounded& r) {
  const Format& f = r.format;
  if (f.kind == Kind::Scaled)
    fail(whole, std::string(key) + "=" + f.spelling + " is a scaled format; the engine takes element formats");
  if (!f.fits_in_double())
    fail(whole, std::string(key) + "=" + f.spelling + " has values a double cannot hold");
  const int p = significant_bits(f);
  if (p > 51) fail(whole, std::string(key) + "=" + f.spelling + " is too precise for exact emulation (at most 51 bits)");
  if (r.rounding.mode == Mode::SR) {
    if (r.rounding.sr_bits == 0)
      fail(whole, std::string(key) + "_round=sr: stochastic rounding of sums needs a bit count, sr<k> with k <= " +
                      std::to_string(51 - p));
    if (r.rounding.sr_bits > 51 - p)
      fail(whole, std::string(key) + "_round=" + r.rounding.spelling() + ": at most sr" + std::to_string(51 - p) +
                      " for " + f.spelling);
  }
}

std::string rounded_spelling(const char* key, const Rounded& r) {
  std::string s = std::string(key) + "=" + r.format.spelling;
  if (r.rounding.mode != Mode::RNE || r.rounding.sr_bits) s += std::string(",") + key + "_round=" + r.rounding.spelling();
  return s;
}

std::string fmt_nan(std::uint32_t bits) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "nan=0x%08x", unsigned(bits));
  return buf;
}

}  // namespace


const Rounded& MacConfig::result() const { return out ? *out : outer ? *outer : acc; }

std::string MacConfig::spelling() const {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
  if (a && b && a->format == b->format && a->rounding == b->rounding) {
    add(rounded_spelling("in", *a));
  } else {
    if (a) add(rounded_spelling("a", *a));
    if (b) add(rounded_spelling("b", *b));
  }
  if (product) add(rounded_spelling("prod", *product));
  add(rounded_spelling("acc", acc));
  if (order == Order::Pairwise) add("order=pairwise");
  if (order == Order::Pairwise && promote) add("promote=" + std::to_string(promote));
  if (order == Order::Seq && promote) add("order=chunk" + std::to_string(promote));
  if (order == Order::Fused) {
    add("order=fused" + std::to_string(fused_n) + ",align=" + (align_exact ? std::string("exact") : std::to_string(align_bits)));
    if (c_late) add("c_late=" + std::to_string(c_late));
    if (split) add("split=" + std::to_string(split));
    if (c_drop) add("c_drop=" + std::to_string(c_drop));
    if (scale != ScaleKind::None)
      add(std::string("scale=") + (scale == ScaleKind::UE8M0 ? "ue8m0" : "ue4m3") + ",block=" + std::to_string(block));
    if (subsum) add("subsum=" + std::to_string(subsum));
    if (promote) add("promote=" + std::to_string(promote));
    if (interleave) add("interleave=" + std::to_string(interleave));
  }
  if (outer) add(rounded_spelling("outer", *outer));
  if (out) add(rounded_spelling("out", *out));
  if (overflow_inf) add("overflow=inf");
  if (nan_bits) add(fmt_nan(*nan_bits));
  if (zero_exp) add("zero_exp=" + std::to_string(*zero_exp));
  if (zero_plus) add("zero_sign=pos");
  if (prod_inf) add("prod_overflow=inf");
  return s;
}

MacConfig parse_mac(std::string_view whole) {
  if (whole.empty()) fail(whole, "empty");
  // key -> value, in order; a leading preset name expands first.
  std::map<std::string, std::string> kv;
  std::string_view rest = whole;
  {
    const auto comma = rest.find(',');
    const std::string_view first = rest.substr(0, comma);
    if (first.find('=') == std::string_view::npos) {
      const MacPreset* hit = nullptr;
      for (const auto& p : mac_presets())
        if (first == p.name) hit = &p;
      if (!hit) {
        std::string names;
        for (const auto& p : mac_presets()) names += std::string(names.empty() ? "" : ", ") + p.name;
        fail(whole, "unknown preset \"" + std::string(first) + "\" (presets: " + names + ")");
      }
      std::string_view ps = hit->spelling;
      while (!ps.empty()) {
        const auto c = ps.find(',');
        const auto item = ps.substr(0, c);
        const auto eq = item.find('=');
        kv[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
        ps = c == std::string_view::npos ? std::string_view{} : ps.substr(c + 1);
      }
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (comma != std::string_view::npos && rest.empty()) fail(whole, "empty item after ','");
    }
  }
  std::map<std::string, bool> seen;
  while (!rest.empty()) {
    const auto c = rest.find(',');
    const auto item = rest.substr(0, c);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size())
      fail(whole, std::string("\"").append(item).append("\" is not key=value"));
    const std::string key(item.substr(0, eq));
    if (seen[key]) fail(whole, "key \"" + key + "\" given twice");
    // Overriding one operand of a preset's in=: the preset's in= becomes a= and b=.
    const bool one_side = key == "a" || key == "b" || key == "a_round" || key == "b_round";
    if (one_side && kv.count("in") && !seen["in"]) {
      kv["a"] = kv["b"] = kv["in"];
      kv.erase("in");
      if (kv.count("in_round")) kv["a_round"] = kv["b_round"] = kv["in_round"], kv.erase("in_round");
    }
    seen[key] = true;
    kv[key] = std::string(item.substr(eq + 1));
    if (c != std::string_view::npos && c + 1 == rest.size()) fail(whole, "empty item after ','");
    rest = c == std::string_view::npos ? std::string_view{} : rest.substr(c + 1);
  }
  static const char* kKeys[] = {"in",    "in_round", "a",     "a_round",     "b",   "b_round",   "prod",
                                "prod_round", "acc", "acc_round", "order", "align", "guard", "promote", "interleave",
                                "outer", "outer_round", "out", "out_round", "overflow", "nan", "zero_exp", "zero_sign",
                                "c_late", "split", "c_drop", "prod_overflow", "scale", "block", "subsum"};
  for (const auto& [k, v] : kv) {
    bool known = false;
    for (const char* kk : kKeys) known |= k == kk;
    if (!known)
      fail(whole, "unknown key \"" + k +
                      "\" (keys: in a b prod acc outer out, each with _round; order align guard promote interleave; "
                      "c_late split c_drop scale block subsum overflow nan zero_exp zero_sign prod_overflow)");
  }
  auto get = [&](const char* k) -> const std::string* {
    const auto it = kv.find(k);
    return it == kv.end() ? nullptr : &it->second;
  };
  auto format_of = [&](const char* key, const std::string& v) {
    try {
      return arith::parse_format(v);
    } catch (const std::exception& e) {
      fail(whole, std::string(key) + ": " + e.what());
    }
  };
  auto rounding_of = [&](const std::string& key) {
    const std::string* v = get((key + "_round").c_str());
    if (!v) return Rounding{};
    try {
      return arith::parse_rounding(*v);
    } catch (const std::exception& e) {
      fail(whole, key + "_round: " + e.what());
    }
  };
  auto optional_rounded = [&](const char* key) -> std::optional<Rounded> {
    const std::string* v = get(key);
    if (!v) {
      if (get((std::string(key) + "_round").c_str()))
        fail(whole, std::string(key) + "_round given without " + key);
      return std::nullopt;
    }
    return Rounded{format_of(key, *v), rounding_of(key)};
  };

  MacConfig m;
  if (get("in") && (get("a") || get("b"))) fail(whole, "give either in= or a=/b=, not both");
  if (auto in = optional_rounded("in")) m.a = m.b = in;
  else {
    m.a = optional_rounded("a");
    m.b = optional_rounded("b");
  }
  if (const std::string* p = get("prod"); p && *p == "exact") {
    if (get("prod_round")) fail(whole, "prod_round given with prod=exact");
  } else {
    m.product = optional_rounded("prod");
  }
  m.acc = Rounded{get("acc") ? format_of("acc", *get("acc")) : arith::parse_format("fp32"), rounding_of("acc")};
  const std::string order = get("order") ? *get("order") : "seq";
  if (order == "seq") m.order = Order::Seq;
  else if (order == "pairwise") m.order = Order::Pairwise;
  else if (order.rfind("chunk", 0) == 0) {
    if (!take_positive(std::string_view(order).substr(5), m.promote)) fail(whole, "order=chunk<N> needs N >= 1");
  } else if (order.rfind("fused", 0) == 0) {
    m.order = Order::Fused;
    if (!take_positive(std::string_view(order).substr(5), m.fused_n) || m.fused_n > 4096)
      fail(whole, "order=fused<N> needs N in 1..4096");
  } else {
    fail(whole, "order=" + order + " (expected seq, pairwise, chunk<N> or fused<N>)");
  }
  if (m.order != Order::Fused && (get("align") || get("guard") || get("interleave") || get("c_late") || get("split") ||
                                  get("c_drop") || get("scale") || get("block") || get("subsum")))
    fail(whole, "align, guard, interleave, c_late, split, c_drop, scale, block and subsum belong to order=fused<N>");
  if (m.order == Order::Seq && get("promote"))
    fail(whole, "promote= belongs to order=fused<N> and order=pairwise (seq with promotion every N is order=chunk<N>)");
  auto int_of = [&](const char* key, int lo, int hi) {
    int v = 0;
    const std::string& s = *get(key);
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi)
      fail(whole, std::string(key) + "=" + s + " (expected an integer in " + std::to_string(lo) + ".." +
                      std::to_string(hi) + ")");
    return v;
  };
  if (m.order == Order::Pairwise && get("promote")) m.promote = int_of("promote", 1, 1 << 24);
  if (m.order == Order::Fused) {
    if (m.acc.format.kind != Kind::Float) fail(whole, "order=fused<N> needs a floating-point accumulator");
    if (get("align") && get("guard")) fail(whole, "give align= or guard=, not both");
    m.align_bits = m.acc.format.man_bits;
    if (get("align") && *get("align") == "exact") {
      // One rounding of the exact sum (sim/exact_sum.hpp): sums held as normal doubles.
      m.align_exact = true;
      if (m.acc.format.min_subnormal() < 0x1p-1022)
        fail(whole, "align=exact needs an accumulator whose values are normal doubles; " + m.acc.format.spelling +
                        " reaches below 2^-1022");
    } else if (get("align")) {
      m.align_bits = int_of("align", 0, 40);
    }
    if (get("guard")) m.align_bits = m.acc.format.man_bits + int_of("guard", -m.acc.format.man_bits, 40 - m.acc.format.man_bits);
    if (get("c_late")) {
      if (m.align_exact) fail(whole, "c_late needs align=<bits>, not align=exact");
      m.c_late = int_of("c_late", m.align_bits, 48);
    }
    if ((get("split") || get("c_drop")) && !m.c_late) fail(whole, "split and c_drop refine c_late=: give c_late too");
    if (get("split")) {
      m.split = int_of("split", 2, 16);
      if (m.fused_n % m.split) fail(whole, "split must divide the fused width");
    }
    if (get("c_drop")) m.c_drop = int_of("c_drop", 1, 300);
    if (get("scale")) {
      const std::string& v = *get("scale");
      if (v == "ue8m0") m.scale = ScaleKind::UE8M0;
      else if (v == "ue4m3") m.scale = ScaleKind::UE4M3;
      else fail(whole, "scale=" + v + " (expected ue8m0 or ue4m3)");
      if (!get("block")) fail(whole, "scale= needs block=<n>, the elements per scale (MX: 32, NVFP4: 16)");
      m.block = int_of("block", 1, 4096);
      if (m.fused_n % m.block && m.block % m.fused_n)
        fail(whole, "block=" + std::to_string(m.block) + " and order=fused" + std::to_string(m.fused_n) +
                        ": one must divide the other");
      if (get("prod") || m.c_late || m.interleave || m.align_exact)
        fail(whole, "scale= combines with neither prod=, c_late, interleave nor align=exact");
    } else if (get("block") || get("subsum")) {
      fail(whole, "block and subsum need scale=ue8m0|ue4m3");
    }
    if (get("subsum")) {
      m.subsum = int_of("subsum", 1, 4096);
      if (m.block % m.subsum || m.fused_n % m.subsum) fail(whole, "subsum must divide both block and the fused width");
    }
    if (get("promote")) {
      m.promote = int_of("promote", 1, 1 << 24);
      if (m.promote % m.fused_n) fail(whole, "promote must be a multiple of the fused width");
    }
    if (get("interleave")) {
      if (!m.promote) fail(whole, "interleave deals a promotion chunk's terms to its steps: it needs promote=");
      if (m.scale != ScaleKind::None) fail(whole, "interleave does not combine with scale=");
      m.interleave = int_of("interleave", 1, m.fused_n);
      if (m.fused_n % m.interleave) fail(whole, "interleave must divide the fused width");
    }
  }
  if (m.promote) m.outer = Rounded{get("outer") ? format_of("outer", *get("outer")) : arith::parse_format("fp32"),
                                   rounding_of("outer")};
  else if (get("outer") || get("outer_round")) fail(whole, "outer= needs promotion (order=chunk<N>, or fused/pairwise with promote=)");
  m.out = optional_rounded("out");
  if (const std::string* v = get("overflow")) {
    if (*v == "inf") m.overflow_inf = true;
    else if (*v != "ieee") fail(whole, "overflow=" + *v + " (expected ieee or inf)");
  }
  if (const std::string* v = get("nan"); v && *v != "ieee") {
    // The float32 bit pattern of every NaN result: 0x + 8 hex digits, a NaN (exponent all ones, fraction != 0).
    std::uint32_t bits = 0;
    const bool hex = v->size() == 10 && (*v)[0] == '0' && ((*v)[1] == 'x' || (*v)[1] == 'X') &&
                     std::from_chars(v->data() + 2, v->data() + v->size(), bits, 16).ptr == v->data() + v->size();
    if (!hex || (bits & 0x7fc00000u) != 0x7fc00000u)
      fail(whole, "nan=" + *v + " (expected ieee, or the float32 bits of a quiet NaN as 0x + 8 hex digits, e.g. nan=0x7fffffff)");
    m.nan_bits = bits;
  }
  if (m.order != Order::Fused && (get("zero_exp") || get("zero_sign") || get("prod_overflow")))
    fail(whole, "zero_exp, zero_sign and prod_overflow belong to order=fused<N> (they change a fused step)");
  if (const std::string* v = get("prod_overflow")) {
    if (*v == "inf") m.prod_inf = true;
    else if (*v != "ieee") fail(whole, "prod_overflow=" + *v + " (expected ieee or inf)");
  }
  if (const std::string* v = get("zero_exp")) {
    int e = 0;
    const auto r = std::from_chars(v->data(), v->data() + v->size(), e);
    if (r.ec != std::errc() || r.ptr != v->data() + v->size() || e < -300 || e > 300)
      fail(whole, "zero_exp=" + *v + " (expected an integer in -300..300, e.g. -126)");
    m.zero_exp = e;
  }
  if (const std::string* v = get("zero_sign")) {
    if (*v == "pos") m.zero_plus = true;
    else if (*v != "ieee") fail(whole, "zero_sign=" + *v + " (expected ieee or pos)");
  }

  for (const char* k : {"a", "b"}) {
    const auto& r = k[0] == 'a' ? m.a : m.b;
    if (r && (r->format.kind == Kind::Scaled || !r->format.fits_in_float()))
      fail(whole, std::string(k) + "=" + r->format.spelling + ": operands must be element formats that fit in a float");
  }
  if (m.subsum) {
    // A run's sum must be exact in a double: the products span at most 53 bits (largest binade of
    // each factor down to its quantum, plus the bits of the run's length).
    auto span = [](const Format& f) { return f.emax() + 1 - (f.emin() - f.man_bits); };
    if (!(m.a && m.b && m.a->format.kind == Kind::Float && m.b->format.kind == Kind::Float))
      fail(whole, "subsum= needs floating-point operand formats (in=, or a= and b=)");
    const int bits = span(m.a->format) + span(m.b->format) + std::bit_width(unsigned(m.subsum - 1));
    if (m.subsum > 1 && bits > 53)
      fail(whole, "subsum=" + std::to_string(m.subsum) + " with " + m.a->format.spelling + " x " + m.b->format.spelling +
                      ": a run's exact sum needs " + std::to_string(bits) + " bits, more than a double's 53 "
                      "(fp4/fp6/e4m3 elements fit)");
  }
  if (m.scale != ScaleKind::None && !(m.a && m.b))
    fail(whole, "scale= needs operand (element) formats: in=, or a= and b=");
  if (m.product) check_target(whole, "prod", *m.product);
  check_target(whole, "acc", m.acc);
  if (m.outer) check_target(whole, "outer", *m.outer);
  if (m.out && m.out->format.kind == Kind::Scaled)
    fail(whole, "out=" + m.out->format.spelling + " must be an element format");
  // Results are delivered as float: the last format must fit (an int32 accumulator needs out=fp32, say).
  if (!m.result().format.fits_in_float())
    fail(whole, "results in " + m.result().format.spelling +
                    " do not fit in a float; add out=<format> (e.g. out=fp32) for the conversion at the end");
  // A wrapping fixed-point accumulator must see bounded products (exact_sum.hpp).
  if (m.acc.format.kind == Kind::Fixed && m.acc.format.wrap &&
      !(m.a && m.b && m.a->format.kind == Kind::Fixed && m.b->format.kind == Kind::Fixed))
    fail(whole, "a wrapping fixed-point accumulator needs fixed-point operand formats (a=, b= or in=)");
  return m;
}

}  // namespace lpsim::sim
