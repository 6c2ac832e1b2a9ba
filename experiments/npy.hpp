// NumPy .npy files (format 1.0/2.0) and plain-text matrices, for the quick
// numeric subcommands (`lpsim matmul`). Reads float32/float64, C or Fortran
// order, 1-D or 2-D; writes float32 C order. Errors name the file and what
// was expected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lpsim::cli {

struct Matrix {
  std::int64_t rows = 0, cols = 0;
  std::vector<float> data;  // row-major
};

// .npy by magic number; anything else is text: rows of numbers separated by
// spaces, tabs or commas ('#' starts a comment).
Matrix read_matrix(const std::string& path);
void write_npy(const std::string& path, const Matrix& m);
void write_text(const std::string& path, const Matrix& m);

}  // namespace lpsim::cli
