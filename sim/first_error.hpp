// An exception must not leave an OpenMP region (that is std::terminate): each
// parallel loop body runs under FirstError::run(), which keeps the first
// exception any thread throws, and rethrow() raises it after the region (a NaN
// reaching a fixed-point out= format aborted the process from a fast path
// where gemm_golden throws; found by fuzz/fuzz_mac).
#pragma once

#include <exception>

namespace lpsim::sim {

class FirstError {
 public:
  template <class F>
  void run(F&& body) noexcept {
    try {
      body();
    } catch (...) {
#pragma omp critical(lpsim_sim_gemm_first_error)
      if (!error_) error_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
};

}  // namespace lpsim::sim
