// One binding function per layer; core_module.cpp calls them in layer order.
#pragma once

#include <pybind11/pybind11.h>

namespace lpsim::py {

void bind_arith(pybind11::module_& m);
void bind_sim(pybind11::module_& m);
void bind_experiments(pybind11::module_& m);
void bind_torch(pybind11::module_& m);  // nn's product layers for lpsim.torch
void bind_vectors(pybind11::module_& m);  // lpsim.vectors: experiments/vectors.hpp

}  // namespace lpsim::py
