// Real tensor-core output (the Khattak-Mikaitis validation data, BSD-2; its
// README and LICENCE travel with every copy): per GPU and input format, one
// instruction's dot product d = a.b + c per line.
//   <root>/<GPU>/<input>/a_<GPU>_<input>.txt[.gz]  K operands, 8-digit hex fp32 bit patterns
//                        b_<GPU>_<input>.txt[.gz]  likewise
//                        c_<GPU>_fp32.txt[.gz]     the addend, 32-character binary fp32 pattern
//                        d_<GPU>_fp32.txt[.gz]     the GPU's fp32 result, likewise (where present)
//                        d_<GPU>_fp16.txt[.gz]     the GPU's fp16 result, as the fp32 holding it (where present)
// Every line must have the same K; every file the same number of lines.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lpsim::data {

struct TensorCoreSet {
  std::string gpu, input;  // "H100", "E4M3"
  std::int64_t k = 0, n = 0;
  std::vector<float> a, b;  // n x k, row i = vector i
  std::vector<float> c;     // n
  std::vector<float> d_fp32, d_fp16;  // n each; empty where the set has no such results
};

constexpr std::int64_t kTensorCoreMaxK = 1024, kTensorCoreMaxVectors = 1 << 20;

// dir = <root>/<GPU>/<input>. Throws DataError naming the file and line.
TensorCoreSet read_tensor_core_set(const std::string& dir);

// "<GPU>/<input>" of every set under root (directories holding an a_ file), sorted.
std::vector<std::string> tensor_core_sets(const std::string& root);

}  // namespace lpsim::data
