// Precision policies: what decides, for every product layer and every
// iteration, the formats of its W, A, E and G (the dynamic-precision methods of
// the literature). The training loop calls the hooks below in this order:
//   begin                          once, after apply_precision set the static formats
//   per iteration: before_step -> forward/backward -> after_backward -> optimizer -> after_step
//   end_epoch                      after the epoch's evaluation
// A policy changes the LayerPrecision of the model's product layers
// (Model::product_layers(), depth = index there). BitOPs are read from those
// formats after each step, so whatever a policy sets is what gets counted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/model.hpp"

namespace lpsim::nn {

struct EpochRecord;

struct PolicyContext {
  std::int64_t iterations_per_epoch = 0, total_iterations = 0;
  int epochs = 0;
  std::uint64_t seed = 0;
};

class PrecisionPolicy {
 public:
  virtual ~PrecisionPolicy() = default;
  virtual std::string name() const = 0;
  virtual void begin(Model&, const PolicyContext&) {}
  virtual void before_step(Model&, std::int64_t /*iteration*/) {}
  // Gradients are in the params; the optimizer has not run yet.
  virtual void after_backward(Model&, std::int64_t /*iteration*/) {}
  virtual void after_step(Model&, std::int64_t /*iteration*/, double /*loss*/, double /*batch_accuracy*/) {}
  virtual void end_epoch(Model&, const EpochRecord&) {}
  // Everything a resumed run needs to continue bit for bit (checkpoints).
  virtual std::vector<double> state() const { return {}; }
  virtual void set_state(const std::vector<double>&) {}
};

// The policy that keeps apply_precision's formats (static precision).
class StaticPolicy : public PrecisionPolicy {
 public:
  std::string name() const override { return "static"; }
};

// Every knob of every policy, by the name configs and Python use.
struct PolicyConfig {
  std::string kind = "static";
};

// Throws std::invalid_argument naming an unknown kind or a bad knob value.
std::unique_ptr<PrecisionPolicy> make_policy(const PolicyConfig&);

}  // namespace lpsim::nn
