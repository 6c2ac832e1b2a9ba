// Real tensor-core output (the Khattak-Mikaitis validation data, BSD-2; its
// README and LICENCE travel with every copy): per GPU and input format, one
// instruction's dot product d = a.b + c per line.
//   <root>/<GPU>/<input>/a_<GPU>_<input>.txt[.gz]  K operands, 8-digit hex fp32 bit patterns
//                        b_<GPU>_<input>.txt[.gz]  likewise
//                        c_<GPU>_fp32.txt[.gz]     the addend, 32-character binary fp32 pattern
//                        d_<GPU>_fp32.txt[.gz]     the GPU's fp32 result, likewise (where present)
//                        d_<GPU>_fp16.txt[.gz]     the GPU's fp16 result, as the fp32 holding it (where present)
//                        sa_<GPU>_<input>.txt[.gz] block scales of a (block-scaled MMA; with sb_): per line
//                        sb_<GPU>_<input>.txt[.gz] K/block scale values, 8-digit hex fp32 patterns
//                        mac.txt                   optional: the MAC spelling the set is checked against
// Every line must have the same K; every file the same number of lines. The same layout holds the
// output of reference models (tests/data/reference-models/, docs/gpu-presets.md).
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
  std::int64_t blocks = 0;            // scale blocks per vector (0: no block scales)
  std::vector<float> sa, sb;          // n x blocks each
  std::string mac;                    // from mac.txt; empty where absent
};

constexpr std::int64_t kTensorCoreMaxK = 1024, kTensorCoreMaxVectors = 1 << 20;

// dir = <root>/<GPU>/<input>. Throws DataError naming the file and line.
TensorCoreSet read_tensor_core_set(const std::string& dir);

// "<GPU>/<input>" of every set under root (directories holding an a_ file), sorted.
std::vector<std::string> tensor_core_sets(const std::string& root);

}  // namespace lpsim::data
