#include "data/error.hpp"

namespace lpsim::data {

void fail(const std::string& path, const std::string& expected, const std::string& found) {
  throw DataError(path + ": expected " + expected + ", found " + found);
}

}  // namespace lpsim::data
