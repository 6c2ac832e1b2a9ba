// lpsim: batch experiments and quick numeric checks from the shell.
#include <cstdio>
#include <exception>

#include "experiments/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"lpsim - bit-accurate low-precision arithmetic simulator"};
  app.require_subcommand(1);
  app.add_flag("-q,--quiet", lpsim::cli::quiet, "no progress lines");
  lpsim::cli::add_info(app);
  lpsim::cli::add_quantize(app);
  lpsim::cli::add_demo(app);
  lpsim::cli::add_train(app);
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
