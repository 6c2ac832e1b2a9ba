// lpsim: batch experiments and quick numeric checks from the shell.
#include <malloc.h>

#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "arith/isa.hpp"
#include "experiments/commands.hpp"
#include "experiments/results_file.hpp"

int main(int argc, char** argv) {
  // Training allocates and frees multi-megabyte tensors every step; glibc
  // would return each to the kernel (mmap/munmap) and fault it back in,
  // which doubled ResNet-20's step time. Keep freed memory in the heap.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"lpsim - bit-accurate low-precision arithmetic simulator"};
  app.require_subcommand(1);
  // A repeated option takes its last value, so callers can override defaults (run.sh "$@").
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("-q,--quiet", lpsim::cli::quiet, "no progress lines (summaries and errors still print)");
  app.fallthrough();  // -q also after the subcommand
  lpsim::cli::add_info(app);
  lpsim::cli::add_quantize(app);
  lpsim::cli::add_demo(app);
  lpsim::cli::add_train(app);
  lpsim::cli::add_matmul(app);
  lpsim::cli::add_vectors(app);
  lpsim::cli::add_hardware(app);
  lpsim::cli::add_sweep(app);
  lpsim::cli::add_merge(app);
  app.footer(
      "Exit codes: 0 success; 1 bad input or failed run (the message names the value, key, file or line); "
      "2 usage error; 3 results file busy (another process is writing it).\n"
      "Configs: docs/config.md; results files: docs/results-format.md.");
  // CLI11 reports an unknown subcommand as "a subcommand is required": name it.
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-q" || a == "--quiet") continue;
    if (a.empty() || a[0] == '-') break;
    bool known = false;
    std::string names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      known = known || sub->get_name() == a;
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "lpsim: error: unknown subcommand \"%s\" (%s; lpsim --help)\n", a.c_str(), names.c_str());
      return 2;
    }
    break;
  }
  try {
    lpsim::arith::isa();  // a bad LPSIM_ISA is named here, before any kernel runs (arith/isa.hpp)
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const lpsim::cli::ResultsBusy& e) {
    std::fprintf(stderr, "lpsim: error: %s\n", e.what());
    return 3;
  } catch (const std::bad_alloc&) {
    // e.what() would say only "std::bad_alloc".
    std::fprintf(stderr,
                 "lpsim: error: out of memory: the requested sizes (model, batch, shapes) need more memory than "
                 "this machine can allocate\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lpsim: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
