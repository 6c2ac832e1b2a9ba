// The format grammar of docs/formats.md, parsed strictly. Every error quotes the
// whole spelling and says what was expected.
#include <charconv>
#include <cmath>
#include <vector>

#include "arith/format.hpp"

namespace lpsim::arith {

namespace {

// Every named alias, in one table (docs/formats.md).
constexpr Alias kAliases[] = {
    {"fp64", "e11m52"},
    {"fp32", "e8m23"},
    {"tf32", "e8m10"},
    {"bf16", "e8m7"},
    {"fp16", "e5m10"},
    {"fp8e4m3", "e4m3fn"},
    {"fp8e5m2", "e5m2"},
    {"fp6e3m2", "e3m2fn:nonan"},
    {"fp6e2m3", "e2m3fn:nonan"},
    {"fp4e2m1", "e2m1fn:nonan"},
    // OCP Microscaling Formats (MX) v1.0: E8M0 scale shared by blocks of 32.
    // MXINT8 elements are 8-bit two's complement with an implied scale of 2^-6.
    {"mxfp8e4m3", "e4m3fn/mx/block32"},
    {"mxfp8e5m2", "e5m2/mx/block32"},
    {"mxfp6e3m2", "e3m2fn:nonan/mx/block32"},
    {"mxfp6e2m3", "e2m3fn:nonan/mx/block32"},
    {"mxfp4", "e2m1fn:nonan/mx/block32"},
    {"mxint8", "fx8.6/mx/block32"},
};

constexpr const char* kExpected =
    "expected e<E>m<M>[fn|fnuz][:nosub][:sat][:nonan][:bias=B], fx<W>.<F> / ufx<W>.<F> / int<W> / "
    "uint<W> [:wrap|:sat], an alias (fp32 tf32 bf16 fp16 fp8e4m3 fp8e5m2 fp6e3m2 fp6e2m3 fp4e2m1), "
    "<elem>/<minmax|offset|absmax|pow2>/<tensor|channel|block<N>>, or mxfp8e4m3 mxfp8e5m2 mxfp6e3m2 "
    "mxfp6e2m3 mxfp4 mxint8";

[[noreturn]] void fail(std::string_view whole, const std::string& why) {
  throw FormatError("invalid format \"" + std::string(whole) + "\": " + why + "; " + kExpected);
}

// Reads a decimal integer (optionally negative) at the front of s. No '+', no spaces.
bool take_int(std::string_view& s, int& out, bool allow_negative = false) {
  std::size_t i = 0;
  if (allow_negative && i < s.size() && s[i] == '-') ++i;
  const std::size_t digits_from = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == digits_from || i - digits_from > 6) return false;
  const auto r = std::from_chars(s.data(), s.data() + i, out);
  if (r.ec != std::errc()) return false;
  s.remove_prefix(i);
  return true;
}

bool starts(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::vector<std::string_view> split(std::string_view s, char c) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto at = s.find(c);
    parts.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

Format parse_float(std::string_view whole, std::string_view head, const std::vector<std::string_view>& opts) {
  Format f;
  f.kind = Kind::Float;
  std::string_view s = head.substr(1);  // after 'e'
  if (!take_int(s, f.exp_bits) || s.empty() || s[0] != 'm') fail(whole, "malformed exponent width");
  s.remove_prefix(1);
  if (!take_int(s, f.man_bits)) fail(whole, "malformed mantissa width");
  if (s == "fn") f.specials = Specials::FN;
  else if (s == "fnuz") f.specials = Specials::FNUZ;
  else if (!s.empty()) fail(whole, "unknown suffix \"" + std::string(s) + "\" (fn or fnuz)");
  // The valid range (format.hpp, "Valid minifloats"): values are held in doubles.
  if (f.exp_bits < 1 || f.exp_bits > 11)
    fail(whole, std::to_string(f.exp_bits) + " exponent bits; a minifloat has 1..11 (values are held in doubles)");
  if (f.man_bits < 0 || f.man_bits > 52)
    fail(whole, std::to_string(f.man_bits) + " mantissa bits; a minifloat has 0..52 (values are held in doubles)");
  const int default_bias = (1 << (f.exp_bits - 1)) - 1 + (f.specials == Specials::FNUZ ? 1 : 0);
  f.bias = default_bias;
  bool seen_bias = false;
  for (auto o : opts) {
    if (o == "nosub" && f.subnormals) f.subnormals = false;
    else if (o == "sat" && !f.saturate) f.saturate = true;
    else if (o == "nonan" && !f.nonan) f.nonan = true;
    else if (starts(o, "bias=") && !seen_bias) {
      std::string_view b = o.substr(5);
      if (!take_int(b, f.bias, true) || !b.empty()) fail(whole, "malformed bias");
      seen_bias = true;
    } else {
      fail(whole, "unknown or repeated option \":" + std::string(o) + "\" for a minifloat");
    }
  }
  if (f.nonan && f.specials != Specials::FN) fail(whole, ":nonan needs the fn suffix");
  if (f.specials == Specials::IEEE && f.exp_bits < 2)
    fail(whole, "an IEEE-style format needs at least 2 exponent bits (e1 has no normal numbers; use fn)");
  if (f.specials == Specials::FN && !f.nonan && f.exp_bits == 1 && f.man_bits == 0)
    fail(whole, "e1m0fn holds only zero and NaN");
  if (f.max_finite() <= 0 || !std::isfinite(f.max_finite()) || !f.fits_in_double()) {
    // Say which end is out: the top binade (emax) or the smallest value (emin - M).
    const int lsb = f.subnormals ? f.emin() - f.man_bits : f.emin();
    fail(whole, "its values do not fit in a double: the largest finite value is about 2^" + std::to_string(f.emax() + 1) +
                    " and the smallest 2^" + std::to_string(lsb) +
                    ", every value must be exactly a double (largest below 2^1024, smallest value and quantum at "
                    "least 2^-1074: emax <= 1023, emin - M >= -1074)" +
                    (f.bias != default_bias ? "; the bias is too far from the default " + std::to_string(default_bias)
                                            : ""));
  }
  // Canonical spelling: the suffix, then options in a fixed order, bias only if not default.
  f.spelling = "e" + std::to_string(f.exp_bits) + "m" + std::to_string(f.man_bits) +
               (f.specials == Specials::FN ? "fn" : f.specials == Specials::FNUZ ? "fnuz" : "");
  if (!f.subnormals) f.spelling += ":nosub";
  if (f.saturate) f.spelling += ":sat";
  if (f.nonan) f.spelling += ":nonan";
  if (f.bias != default_bias) f.spelling += ":bias=" + std::to_string(f.bias);
  return f;
}

Format parse_fixed(std::string_view whole, std::string_view head, const std::vector<std::string_view>& opts) {
  Format f;
  f.kind = Kind::Fixed;
  std::string_view s = head;
  bool integer = false;
  if (starts(s, "ufx")) { f.is_signed = false; s.remove_prefix(3); }
  else if (starts(s, "fx")) { s.remove_prefix(2); }
  else if (starts(s, "uint")) { f.is_signed = false; integer = true; s.remove_prefix(4); }
  else if (starts(s, "int")) { integer = true; s.remove_prefix(3); }
  if (!take_int(s, f.width)) fail(whole, "malformed width");
  if (!integer) {
    if (s.empty() || s[0] != '.') fail(whole, "fixed point needs <W>.<F>");
    s.remove_prefix(1);
    if (!take_int(s, f.frac_bits, true)) fail(whole, "malformed fraction bits");
  }
  if (!s.empty()) fail(whole, "unexpected \"" + std::string(s) + "\"");
  if (f.width < 1 || f.width > 64) fail(whole, "width must be 1..64");
  if (f.frac_bits < -1024 || f.frac_bits > 1074) fail(whole, "fraction bits must be -1024..1074");
  bool seen = false;
  for (auto o : opts) {
    if ((o == "wrap" || o == "sat") && !seen) { f.wrap = o == "wrap"; seen = true; }
    else fail(whole, "unknown or repeated option \":" + std::string(o) + "\" for fixed point (wrap or sat)");
  }
  f.spelling = integer ? std::string(f.is_signed ? "int" : "uint") + std::to_string(f.width)
                       : std::string(f.is_signed ? "fx" : "ufx") + std::to_string(f.width) + "." +
                             std::to_string(f.frac_bits);
  if (f.wrap) f.spelling += ":wrap";
  return f;
}

Format parse_plain(std::string_view whole, std::string_view s) {
  std::vector<std::string_view> parts = split(s, ':');
  std::string_view head = parts[0];
  const std::vector<std::string_view> opts(parts.begin() + 1, parts.end());
  for (auto o : opts)
    if (o.empty()) fail(whole, "empty option after ':'");
  for (const Alias& a : kAliases) {
    if (head == a.name && std::string_view(a.meaning).find('/') == std::string_view::npos) {
      std::string expanded = a.meaning;
      for (auto o : opts) expanded.append(1, ':').append(o);
      try {
        return parse_plain(expanded, expanded);
      } catch (const FormatError&) {
        fail(whole, "bad option for alias " + std::string(a.name) + " (= " + a.meaning + ")");
      }
    }
  }
  if (head.size() >= 2 && head[0] == 'e' && head[1] >= '0' && head[1] <= '9') return parse_float(whole, head, opts);
  if (starts(head, "fx") || starts(head, "ufx") || starts(head, "int") || starts(head, "uint"))
    return parse_fixed(whole, head, opts);
  fail(whole, "unknown format \"" + std::string(head) + "\"");
}

Format parse_scaled(std::string_view whole, std::string_view s) {
  const auto parts = split(s, '/');
  if (parts.size() != 3) fail(whole, "a scaled format has three parts <elem>/<rule>/<granularity>");
  Format f;
  f.kind = Kind::Scaled;
  f.scaled.elem = std::make_shared<const Format>(parse_plain(whole, parts[0]));
  const auto rule = parts[1];
  if (rule == "minmax") f.scaled.rule = ScaleRule::MinMax;
  else if (rule == "absmax") f.scaled.rule = ScaleRule::AbsMax;
  else if (rule == "pow2") f.scaled.rule = ScaleRule::Pow2;
  else if (rule == "mx") f.scaled.rule = ScaleRule::MX;
  else if (rule == "offset") f.scaled.rule = ScaleRule::Offset;
  else fail(whole, "unknown scale rule \"" + std::string(rule) + "\" (minmax, offset, absmax or pow2)");
  std::string_view g = parts[2];
  using G = ScaledSpec::Group;
  if (g == "tensor") f.scaled.group = G::Tensor;
  else if (g == "channel") f.scaled.group = G::Channel;
  else if (starts(g, "block")) {
    g.remove_prefix(5);
    f.scaled.group = G::Block;
    if (!take_int(g, f.scaled.block) || !g.empty() || f.scaled.block < 1)
      fail(whole, "block size must be a positive integer, as in block32");
  } else {
    fail(whole, "unknown granularity \"" + std::string(parts[2]) + "\" (tensor, channel or block<N>)");
  }
  f.spelling = f.scaled.elem->spelling + "/" + std::string(rule) + "/" + std::string(parts[2]);
  return f;
}

}  // namespace

const Alias* aliases(std::size_t& count) {
  count = std::size(kAliases);
  return kAliases;
}

Format parse_format(std::string_view spelling) {
  if (spelling.empty() || spelling.size() > 64) fail(spelling, "empty or too long");
  for (const Alias& a : kAliases)
    if (spelling == a.name && std::string_view(a.meaning).find('/') != std::string_view::npos) {
      Format f = parse_scaled(spelling, a.meaning);
      f.spelling = a.name;  // MX formats keep their OCP name
      return f;
    }
  if (spelling.find('/') != std::string_view::npos) return parse_scaled(spelling, spelling);
  return parse_plain(spelling, spelling);
}

}  // namespace lpsim::arith
