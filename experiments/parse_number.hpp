// Numbers typed by users (command-line values, text matrices): the whole word
// must be one number, else a clear error naming `what` and the word.
// Subnormals are numbers (strtod reports them as underflow; they are the
// correctly rounded value); a finite decimal beyond the type's range is
// refused rather than turned into an infinity; "inf", "nan" and hex floats
// are numbers. Unsigned integers take no sign and must fit their range.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <limits>
#include <string>

namespace lpsim::cli {

double parse_double(const std::string& word, const std::string& what);
float parse_float(const std::string& word, const std::string& what);
std::uint64_t parse_unsigned(const std::string& word, const std::string& what, std::uint64_t max);

// An unsigned option (a seed, a count) read by parse_unsigned: CLI11's own
// conversion wraps "-1" to 2^64-1 and clamps 2^64 silently.
template <class T>
CLI::Option* add_unsigned_option(CLI::App* cmd, const std::string& name, T& target, const std::string& help,
                                 std::uint64_t max = std::numeric_limits<T>::max()) {
  const std::string what = name.substr(name.rfind(',') == std::string::npos ? 0 : name.rfind(',') + 1);
  return cmd
      ->add_option_function<std::string>(
          name, [&target, what, max](const std::string& s) { target = T(parse_unsigned(s, what, max)); }, help)
      ->type_name("UINT")
      ->default_str(std::to_string(target));
}

}  // namespace lpsim::cli
