// The one error type of the data layer. Every message names the file and says
// what was expected and what was found, so a bad download is fixed at a glance:
//   "<path>: expected <what was expected>, found <what is there>"
#pragma once

#include <stdexcept>
#include <string>

namespace lpsim::data {

struct DataError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& path, const std::string& expected, const std::string& found);

}  // namespace lpsim::data
