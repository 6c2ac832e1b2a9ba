#include <stdexcept>

#include "arith/isa.hpp"
#include "python/bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "lpsim compiled core: bit-accurate low-precision arithmetic";
  // A bad LPSIM_ISA fails the import with its message (arith/isa.hpp), before any kernel runs.
  try {
    lpsim::arith::isa();
  } catch (const std::invalid_argument& e) {
    throw ::pybind11::import_error(e.what());
  }
  lpsim::py::bind_arith(m);
  lpsim::py::bind_sim(m);
  lpsim::py::bind_experiments(m);
  lpsim::py::bind_torch(m);
  lpsim::py::bind_vectors(m);
}
