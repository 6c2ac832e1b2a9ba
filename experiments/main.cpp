// lpsim: batch experiments and quick numeric checks from the shell.
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "arith/isa.hpp"
#include "experiments/commands.hpp"
#include "experiments/results_file.hpp"
#include "nn/train.hpp"

namespace {

// Edit distance (insertions, deletions, substitutions, transpositions of neighbours): for "did you mean".
std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// The closest of `names` to `word` when it is close enough to be a typo; empty otherwise.
std::string closest(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& n : names)
    if (const std::size_t dd = distance(word, n); dd < best_d) best_d = dd, best = n;
  return best;
}

// The long option names of a subcommand and of the app (which falls through to it).
std::vector<std::string> long_options(const CLI::App& app, const CLI::App* sub) {
  std::vector<std::string> out;
  for (const CLI::App* a : {&app, sub})
    if (a)
      for (const CLI::Option* o : a->get_options())
        for (const std::string& n : o->get_lnames()) out.push_back("--" + n);
  return out;
}

}  // namespace

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
  app.set_version_flag("--version", std::string("lpsim ") + lpsim::cli::code_version());
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
      std::vector<std::string> all;
      for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) all.push_back(sub->get_name());
      const std::string guess = closest(a, all);
      std::fprintf(stderr, "lpsim: error: unknown subcommand \"%s\"%s (%s; lpsim --help)\n", a.c_str(),
                   guess.empty() ? "" : (", did you mean \"" + guess + "\"?").c_str(), names.c_str());
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
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError& e) {
    app.exit(e);
    // Name the likeliest meant option for each unknown --flag of the subcommand given.
    const CLI::App* sub = nullptr;
    for (const CLI::App* c : app.get_subcommands()) sub = c;
    const auto names = long_options(app, sub);
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0) continue;
      arg = arg.substr(0, arg.find('='));
      if (std::find(names.begin(), names.end(), arg) != names.end()) continue;
      if (const std::string guess = closest(arg, names); !guess.empty())
        std::fprintf(stderr, "lpsim: %s: did you mean %s?\n", arg.c_str(), guess.c_str());
    }
    return 2;
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const lpsim::nn::Interrupted& e) {
    std::fprintf(stderr, "lpsim: %s\n", e.what());
    return 130;  // as a shell reports a process stopped by SIGINT
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
