// Runs, configs and results files for Python: lpsim.train and lpsim.sweep
// (python/lpsim/training.py) drive the same code as `lpsim train`, so a
// config, an override and a results file mean the same in both.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "experiments/commands.hpp"
#include "experiments/config_flags.hpp"
#include "experiments/config_toml.hpp"
#include "experiments/results_file.hpp"
#include "experiments/run_training.hpp"
#include "experiments/sweep_grid.hpp"
#include "python/bindings.hpp"

namespace py = pybind11;

namespace lpsim::py {

namespace {

using cli::RunConfig;

::py::dict epoch_dict(const nn::EpochRecord& r) {
  ::py::dict d;
  d["epoch"] = r.epoch;
  d["train_loss"] = r.train_loss, d["train_acc"] = r.train_acc;
  d["test_loss"] = r.test_loss, d["test_acc"] = r.test_acc, d["lr"] = r.lr;
  d["seconds"] = r.seconds, d["images_per_second"] = r.images_per_second;
  d["bitops"] = r.bitops, d["bitops_fp32"] = r.bitops_fp32;
  ::py::list layers;
  for (const auto& l : r.layers) {
    ::py::dict x;
    x["name"] = l.name, x["depth"] = l.depth, x["params"] = l.params;
    x["bits_w"] = l.bits_w, x["bits_a"] = l.bits_a, x["bits_e"] = l.bits_e, x["bits_g"] = l.bits_g;
    x["policy_param"] = l.policy_param;
    x["k"] = ::py::make_tuple(l.k[0], l.k[1], l.k[2]);
    x["usage_a"] = ::py::make_tuple(l.usage_a[0], l.usage_a[1], l.usage_a[2]);
    x["usage_b"] = ::py::make_tuple(l.usage_b[0], l.usage_b[1], l.usage_b[2]);
    layers.append(x);
  }
  d["layers"] = layers;
  return d;
}

RunConfig make_config(const std::string& toml_text, const std::string& source, const std::vector<std::string>& overrides) {
  RunConfig c = cli::default_run_config();
  if (!toml_text.empty()) cli::load_config_text(toml_text, source, c);
  for (const auto& o : overrides) cli::apply_override(o, c);
  return c;
}

}  // namespace

void bind_experiments(::py::module_& m) {
  // The release and the exact code (git describe at build time, as results files record it).
  m.attr("__version__") = LPSIM_VERSION;
  m.attr("code_version") = cli::code_version();
  m.def(
      "resolve_config",
      [](const std::string& text, const std::string& source, const std::vector<std::string>& overrides) {
        return cli::to_toml(make_config(text, source, overrides));
      },
      ::py::arg("toml_text"), ::py::arg("source") = "<config>", ::py::arg("overrides") = std::vector<std::string>{},
      "The full resolved config (TOML text, str) of a config's TOML text (str; '' for the defaults; source names it "
      "in messages) plus 'key=value' overrides (list of str). ValueError naming the key and line for a bad key or "
      "value. lpsim.resolve_config is the friendlier wrapper (paths, dicts, keyword overrides).");

  m.def(
      "run_training",
      [](const std::string& text, const std::string& source, const std::vector<std::string>& overrides,
         const std::string& output, const std::string& group, bool resume, bool quiet,
         const std::function<void(::py::dict)>& on_epoch, const std::string& point, std::int64_t point_index,
         bool summary) {
        cli::RunRequest req;
        req.config = make_config(text, source, overrides);
        if (!output.empty()) req.config.output = output;
        req.group = group;
        req.resume = resume;
        req.point = point;
        req.point_index = point_index;
        req.summary = summary;
        // Ctrl-C / Jupyter's interrupt: a pending KeyboardInterrupt stops the run between batches.
        req.stop = [] {
          ::py::gil_scoped_acquire gil;
          if (PyErr_CheckSignals() == 0) return false;
          PyErr_Clear();  // raised again, with how to resume, once the run has stopped cleanly
          return true;
        };
        std::vector<nn::EpochRecord> history;
        req.history = &history;
        if (on_epoch)
          req.on_epoch = [&](const nn::EpochRecord& r) {
            ::py::gil_scoped_acquire gil;
            on_epoch(epoch_dict(r));
          };
        const bool was_quiet = cli::quiet;
        cli::quiet = quiet;
        {
          ::py::gil_scoped_release nogil;
          std::unique_ptr<cli::ResultsFile> results;
          if (!req.config.output.empty()) results = std::make_unique<cli::ResultsFile>(req.config.output);
          try {
            cli::run_training(req, results.get());
          } catch (const nn::Interrupted& e) {
            cli::quiet = was_quiet;
            ::py::gil_scoped_acquire gil;
            PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
            throw ::py::error_already_set();
          } catch (...) {
            cli::quiet = was_quiet;
            throw;
          }
        }
        cli::quiet = was_quiet;
        ::py::list out;
        for (const auto& r : history) out.append(epoch_dict(r));
        return out;
      },
      ::py::arg("toml_text"), ::py::arg("source"), ::py::arg("overrides"), ::py::arg("output"), ::py::arg("group"),
      ::py::arg("resume"), ::py::arg("quiet"), ::py::arg("on_epoch"), ::py::arg("point") = std::string(),
      ::py::arg("point_index") = std::int64_t(-1), ::py::arg("summary") = true,
      "One training run as `lpsim train` does it (a sweep point: its \"key = value\" lines and index); returns "
      "the epochs as a list of dicts (epoch, train_loss, train_acc, test_loss, test_acc, lr, seconds, "
      "images_per_second, bitops, bitops_fp32, layers). output: a results file ('' for none), group its run "
      "group; on_epoch(dict) is called after every epoch (or None). Releases the GIL. ValueError for a bad "
      "config, lpsim._core.ResultsBusy when another process holds output, KeyboardInterrupt (saying how to "
      "resume) on Ctrl-C. lpsim.train is the wrapper to use.");

  m.def(
      "merge_results",
      [](const std::string& output, const std::vector<std::string>& inputs) {
        ::py::gil_scoped_release nogil;
        cli::ResultsFile out(output);
        for (const auto& in : inputs) out.merge_from(in);
      },
      ::py::arg("output"), ::py::arg("inputs"),
      "Copies every run group of the input results files (list of paths, str) into output (a path, created if "
      "absent). RuntimeError for a group already in output or a file that is not a results file, "
      "ResultsBusy when another process holds output. lpsim.merge is the wrapper to use.");

  m.def(
      "point_name",
      [](const std::vector<std::pair<std::string, std::string>>& point) { return cli::point_name(point); },
      ::py::arg("point"), "The run group name (str) of a sweep point [(key, value), ...] (pairs of str), as `lpsim sweep` names it.");

  m.def(
      "config_keys",
      [] {
        ::py::list out;
        cli::RunConfig defaults;  // key_text reads through the key's mutable reference
        for (const cli::Key& k : cli::keys())
          out.append(::py::make_tuple(k.path, cli::key_text(defaults, k.path), k.help));
        for (const cli::KeyAlias& a : cli::key_aliases()) out.append(::py::make_tuple(a.path, ::py::none(), a.help));
        return out;
      },
      "Every config key as (key, default as text, meaning), then the aliases (default None), as `lpsim train "
      "--list-keys` prints them.");
  m.def(
      "config_flags",
      [] {
        ::py::list out;
        for (const auto& f : cli::flag_keys()) out.append(::py::make_tuple(f.name, f.key, f.bool_value));
        return out;
      },
      "The CLI's shorthand flags as (name without dashes, key, value a boolean flag sets or \"\").");

  ::py::register_exception<cli::ResultsBusy>(m, "ResultsBusy", PyExc_RuntimeError)
      .attr("__doc__") = "Another process is writing the results file (a RuntimeError naming it; `lpsim` exits "
                         "with code 3).";
}

}  // namespace lpsim::py
