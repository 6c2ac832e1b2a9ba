#include "experiments/parse_number.hpp"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace lpsim::cli {

namespace {

template <class T, class Strto>
T parse(const std::string& word, const std::string& what, Strto strto, const char* type) {
  const std::string quoted = what + " \"" + word + "\"";
  if (word.empty() || std::isspace(static_cast<unsigned char>(word[0])))
    throw std::invalid_argument(quoted + " is not a number");
  errno = 0;
  char* end = nullptr;
  const T v = strto(word.c_str(), &end);
  if (end != word.c_str() + word.size()) throw std::invalid_argument(quoted + " is not a number");
  if (errno == ERANGE && std::isinf(v))
    throw std::invalid_argument(quoted + " is beyond the range of " + type + " (write inf for an infinity)");
  return v;  // underflow: the subnormal (or zero) is the right value
}

}  // namespace

double parse_double(const std::string& word, const std::string& what) {
  return parse<double>(word, what, std::strtod, "float64");
}
float parse_float(const std::string& word, const std::string& what) {
  return parse<float>(word, what, std::strtof, "float32");
}

std::uint64_t parse_unsigned(const std::string& word, const std::string& what, std::uint64_t max) {
  std::uint64_t v = 0;
  const auto r = std::from_chars(word.data(), word.data() + word.size(), v);
  const std::string range = "0.." + std::to_string(max);
  if (word.empty() || r.ptr != word.data() + word.size() || (r.ec != std::errc() && r.ec != std::errc::result_out_of_range))
    throw std::invalid_argument(what + " \"" + word + "\" is not an integer in " + range);
  if (r.ec == std::errc::result_out_of_range || v > max)
    throw std::invalid_argument(what + " " + word + " is out of range (" + range + ")");
  return v;
}

}  // namespace lpsim::cli
