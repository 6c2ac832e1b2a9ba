#include "bench/eigen_sgemm.hpp"

#include <Eigen/Core>

namespace lpsim::bench {

void eigen_threads(int n) { Eigen::setNbThreads(n); }

void eigen_sgemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, const float* b, float* c) {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;
  Eigen::Map<const Mat> A(a, m, k), B(b, k, n);
  Eigen::Map<Mat> C(c, m, n);
  C.noalias() = A * B;
}

}  // namespace lpsim::bench
