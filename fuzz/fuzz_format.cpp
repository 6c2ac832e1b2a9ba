// The format spelling parser (arith::parse_format), then every query and the
// codec of what it accepted: a FormatError (any std::exception) is a fine
// answer; a crash, a sanitizer report or a broken invariant is a finding.
// Invariants: the canonical spelling reads back to itself; a minifloat's
// range is ordered (0 < min_subnormal <= min_normal <= max_finite); what
// quantize returns encodes and decodes back to itself.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "arith/arith.hpp"
#include "fuzz_util.hpp"

using namespace lpsim::arith;
using lpsim::fuzz::finding;

namespace {

void exercise(const Format& f, const std::uint8_t* data, std::size_t size) {
  Format again;
  try {
    again = parse_format(f.spelling);
  } catch (const std::exception& e) {
    finding("canonical spelling \"" + f.spelling + "\" does not read back: " + e.what());
  }
  if (!(again == f) || again.spelling != f.spelling) finding("spelling \"" + f.spelling + "\" reads back differently");
  if (f.kind == Kind::Scaled) {
    if (!f.scaled.elem) finding("scaled format without an element format");
    return;
  }
  (void)f.bits();
  (void)f.num_codes();
  (void)f.has_inf();
  (void)f.has_nan();
  (void)f.emin();
  (void)f.emax();
  (void)f.epsilon();
  (void)f.lowest();
  (void)f.fits_in_float();
  const bool fits = f.fits_in_double();
  if (f.kind == Kind::Float) {
    if (!fits) finding("minifloat \"" + f.spelling + "\" accepted but its values do not fit in a double");
    if (!(f.min_subnormal() > 0 && f.min_subnormal() <= f.min_normal() && f.min_normal() <= f.max_finite() &&
          std::isfinite(f.max_finite())))
      finding("range of \"" + f.spelling + "\" out of order");
  }
  if (!fits) return;
  // A few inputs: fixed probes, then the input's own bytes as doubles.
  double xs[16] = {0.0, -0.0, 1.0, -1.5, 0.1, 1e300, -1e-300, 5e-324, f.max_finite(), f.min_normal(),
                   f.min_subnormal(), f.lowest(), 3.0, 100.0, 0.75, 65504.0};
  for (std::size_t i = 0; i < 16 && (i + 1) * 8 <= size; ++i) {
    double x;
    std::memcpy(&x, data + i * 8, 8);
    if (std::isfinite(x)) xs[i] = x;
  }
  for (const Mode m : {Mode::RNE, Mode::RNA, Mode::RZ, Mode::RU, Mode::RD, Mode::RO, Mode::SR}) {
    const Rounding r{m, m == Mode::SR ? int(size % 3) * 7 : 0};
    double out[16];
    quantize(xs, out, 16, f, r, RandomKey{size, 1});
    for (int i = 0; i < 16; ++i) {
      const double q = quantize(xs[i], f, r, RandomKey{size, 1}, std::uint64_t(i));
      if (!(q == out[i] || (std::isnan(q) && std::isnan(out[i]))))
        finding("array and scalar quantize differ for \"" + f.spelling + "\"");
      if (std::isnan(q) || (std::isinf(q) && !f.has_inf())) continue;
      if (f.kind == Kind::Fixed && f.wrap && std::isinf(q)) continue;
      std::uint64_t code = 0;
      try {
        code = encode(q, f);
      } catch (const std::exception& e) {
        finding("quantize result of \"" + f.spelling + "\" does not encode: " + e.what());
      }
      const double back = decode(code, f);
      if (!(back == q)) finding("encode/decode of a value of \"" + f.spelling + "\" does not round-trip");
    }
  }
  if (f.fits_in_float()) {
    float xf[8];
    for (int i = 0; i < 8; ++i) xf[i] = float(xs[i]);
    quantize(xf, xf, 8, f);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The spelling is the input up to the first newline; the bytes after it
  // are values to quantize.
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = all.find('\n');
  const std::string_view spelling = all.substr(0, nl);
  const std::size_t rest = nl == std::string_view::npos ? size : nl + 1;
  Format f;
  try {
    f = parse_format(spelling);
  } catch (const FormatError&) {
    return 0;
  } catch (const std::exception& e) {
    finding(std::string("parse_format threw a non-FormatError: ") + e.what());
  }
  try {
    (void)parse_rounding(spelling);
  } catch (const std::exception&) {
  }
  try {
    exercise(f, data + rest, size - rest);
  } catch (const std::exception&) {
    // quantize/encode may refuse (e.g. NaN into a format without one).
  }
  return 0;
}
