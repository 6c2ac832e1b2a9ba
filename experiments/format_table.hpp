// A printed table of formats: bits, range, precision, special values.
#pragma once

#include <string>
#include <vector>

namespace lpsim::cli {

// Throws arith::FormatError (quoting the spelling) for a malformed name.
void print_format_table(const std::vector<std::string>& spellings);

}  // namespace lpsim::cli
