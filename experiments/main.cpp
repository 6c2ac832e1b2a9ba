// lpsim: batch experiments and quick numeric checks from the shell.
#include <malloc.h>

#include <cstdio>
#include <exception>

#include "experiments/commands.hpp"

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
  app.add_flag("-q,--quiet", lpsim::cli::quiet, "no progress lines");
  lpsim::cli::add_info(app);
  lpsim::cli::add_quantize(app);
  lpsim::cli::add_demo(app);
  lpsim::cli::add_train(app);
  lpsim::cli::add_matmul(app);
  lpsim::cli::add_vectors(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lpsim: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
