#include "python/bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "lpsim compiled core: bit-accurate low-precision arithmetic";
  lpsim::py::bind_arith(m);
  lpsim::py::bind_sim(m);
  lpsim::py::bind_experiments(m);
}
