// `lpsim sweep --jobs N`: a pool of N worker processes. Each worker is this binary again
// (/proc/self/exe, the same arguments plus the hidden --job-point P) and
// trains one point into its own results file, <out>.jobs/point<P>.h5, with
// that file's checkpoints; when it ends the parent copies the finished or
// failed run into <out> and deletes the worker file, then starts the next
// point. A point stopped partway stays in its worker file, and the next sweep
// continues it there (or, run with --jobs 1, moves it back into <out>): the
// state of a point never depends on N. The parent holds <out>'s lock
// throughout, so it alone touches <out> and <out>.jobs.
#include "experiments/sweep_jobs.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <omp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>

#include "experiments/commands.hpp"
#include "nn/train.hpp"

extern char** environ;

namespace lpsim::cli {

namespace fs = std::filesystem;

// The worker files' directory: beside the results file, named after its real
// path (as its lock is), so every spelling of one file finds the same one.
std::string jobs_dir(const std::string& output) {
  std::error_code ec;
  std::string real = fs::weakly_canonical(fs::absolute(output), ec).string();
  if (ec || real.empty()) real = fs::absolute(output).string();
  return real + ".jobs";
}

namespace {

// Numbered as the progress lines number points ("point 3/4": point3.h5).
std::string point_file(const std::string& dir, std::int64_t p) { return dir + "/point" + std::to_string(p + 1) + ".h5"; }

}  // namespace

void summary(const Sweep& sw, int trained, int skipped, std::size_t failed, const std::string& extra) {
  fmt::print("sweep: {} points in the grid, {} in shard {}/{}: {} trained, {} already finished, {} failed{} -> {}\n",
             sw.grid_size, sw.mine.size(), sw.shard, sw.shards, trained, skipped, failed, extra, sw.base.output);
  std::fflush(stdout);
}

std::string failed_points_message(const Sweep& sw, const std::vector<std::string>& failed) {
  std::string list;
  for (const std::string& f : failed) list += "\n  " + f;
  return fmt::format("{} of {} points failed (recorded as failed in {}):{}", failed.size(), sw.mine.size(),
                     sw.base.output, list);
}

// --- moving runs between the results file and worker files ---------------

namespace {

void move_checkpoint(ResultsFile& from, ResultsFile& to, const std::string& run) {
  const std::string src = from.checkpoint_path(run);
  if (fs::exists(src)) fs::rename(src, to.checkpoint_path(run));  // one directory tree: one filesystem
}

// A partial run and its checkpoint, from one file to another. Interrupted
// between the steps, both files hold the run; fold_file settles that.
void move_run(ResultsFile& from, ResultsFile& to, const std::string& run) {
  to.merge_from(from.path(), {run});
  move_checkpoint(from, to, run);
  from.remove_runs({run});
}

bool done(RunStatus s) { return s == RunStatus::Finished || s == RunStatus::Failed; }

// Folds a worker file into `out`: finished and failed runs are copied in, a
// partial run stays where `keep` says (its point continues there) or moves
// into `out` with its checkpoint. A run `out` already holds is not copied
// again (an earlier fold cut short): `out`'s finished or failed copy wins, a
// partial copy yields to a finished one. The file goes when nothing stays.
bool fold_file(ResultsFile& out, const std::string& file, const std::function<bool(const std::string&)>& keep) {
  bool kept = false;
  {
    ResultsFile f(file);  // busy: a worker of an earlier sweep is still stopping
    std::vector<std::string> drop;
    for (const std::string& run : f.runs()) {
      const RunStatus st = f.status(run), ost = out.status(run);
      if (done(st)) {
        if (!done(ost)) {
          if (ost == RunStatus::Running) {
            out.remove_runs({run});
            std::error_code ec;
            fs::remove(out.checkpoint_path(run), ec);
          }
          out.merge_from(file, {run});
        }
        drop.push_back(run);
      } else if (done(ost)) {
        drop.push_back(run);
      } else if (ost == RunStatus::Running) {
        if (!fs::exists(out.checkpoint_path(run))) move_checkpoint(f, out, run);
        drop.push_back(run);
      } else if (keep(run)) {
        kept = true;
      } else {
        move_run(f, out, run);
      }
    }
    if (kept) f.remove_runs(drop);
  }  // released: the lock file and an empty checkpoint directory go
  if (!kept) {
    std::error_code ec;
    fs::remove(file, ec);
    fs::remove_all(file + ".ckpt", ec);  // checkpoints of failed runs
  }
  return kept;
}

}  // namespace

// Every worker file left by earlier sweeps on this results file (any --jobs,
// any grid): folded in, keeping only the partial runs of `keep` in their files.
void fold_dir(ResultsFile& out, const std::string& dir, const std::function<bool(const std::string&, const std::string&)>& keep) {
  if (!fs::is_directory(dir)) return;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.size() > 3 && name.ends_with(".h5")) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) fold_file(out, f, [&](const std::string& run) { return keep(f, run); });
  std::error_code ec;
  fs::remove(dir, ec);  // only if empty
}

// --- the worker side --------------------------------------------------------

void run_job_point(const Sweep& sw, std::int64_t p) {
  const auto it = std::find_if(sw.mine.begin(), sw.mine.end(), [&](const RunRequest& r) { return r.point_index == p; });
  if (it == sw.mine.end()) throw std::invalid_argument(fmt::format("--job-point {}: not a point of this shard", p));
  ResultsFile results(point_file(jobs_dir(sw.base.output), p));
  install_interrupt_handler();
  try {
    run_training(*it, &results);  // the config keeps output = <out>: stored exactly as a serial sweep stores it
  } catch (const nn::Diverged& e) {
    fmt::print(stderr, "{}: {}\n", it->label, e.what());  // recorded as failed; the parent reports it
  }
}

// --- the parent side ----------------------------------------------------------

namespace {

// Worker pids for the SIGINT handler (0: a free slot).
std::unique_ptr<volatile std::sig_atomic_t[]> worker_pids;
int worker_slots = 0;
volatile std::sig_atomic_t parent_interrupts = 0;

// Ctrl-C reaches only the parent (each worker has its own process group), and
// the parent passes each one on: the first stops every running point after its
// batch and starts no more, the second kills the workers at once, a third the
// parent.
extern "C" void on_parent_sigint(int) {
  const int n = parent_interrupts + 1;
  parent_interrupts = n;
  for (int i = 0; i < worker_slots; ++i)
    if (const pid_t pid = pid_t(worker_pids[i]); pid > 0) ::kill(pid, SIGINT);
  if (n == 1) {
    const char msg[] = "\nlpsim: sweep: stopping each running point after its batch (Ctrl-C again to kill them)\n";
    [[maybe_unused]] const auto w = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  } else {
    std::signal(SIGINT, SIG_DFL);
  }
}

std::vector<std::string> own_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (std::size_t start = 0; start < all.size();) {
    const std::size_t end = all.find('\0', start);
    args.push_back(all.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return args;
}

struct Worker {
  pid_t pid = -1;
  int slot = 0;
  const RunRequest* req = nullptr;
  int fd[2] = {-1, -1};  // its stdout, stderr
  std::string buf[2];
};

// Writes the complete lines of a worker's output with its prefix (empty lines
// dropped); at EOF the rest. The run's "results: FILE" line names the results
// file, where the parent copies the run as soon as the worker ends.
void relay(Worker& w, int i, const std::string& prefix, const std::string& worker_file, const std::string& output,
           bool eof) {
  std::FILE* to = i == 0 ? stdout : stderr;
  std::string& b = w.buf[i];
  auto line = [&](std::string l) {
    if (l.empty()) return;
    if (const std::string was = "results: " + worker_file + " "; i == 0 && l.starts_with(was))
      l = "results: " + output + " " + l.substr(was.size());
    fmt::print(to, "{}{}\n", prefix, l);
  };
  std::size_t start = 0;
  for (std::size_t nl; (nl = b.find('\n', start)) != std::string::npos; start = nl + 1) line(b.substr(start, nl - start));
  b.erase(0, start);
  if (eof) line(b), b.clear();
  std::fflush(to);
}

}  // namespace

void run_parallel(const Sweep& sw, int jobs, ResultsFile& results) {
  const std::string dir = jobs_dir(sw.base.output);
  std::map<std::string, std::int64_t> index_of;  // group -> point
  for (const RunRequest& r : sw.mine) index_of[r.group] = r.point_index;
  // Earlier sweeps' worker files: finished runs in, partial ones stay in their point's file.
  fold_dir(results, dir, [&](const std::string& file, const std::string& run) {
    const auto it = index_of.find(run);
    return it != index_of.end() && file == point_file(dir, it->second);
  });
  int skipped = 0;
  std::vector<const RunRequest*> pending;
  for (const RunRequest& r : sw.mine) {
    const RunStatus st = results.status(r.group);
    if (st == RunStatus::Failed) {
      if (!quiet) fmt::print("{}: failed in an earlier sweep: skipped\n", r.label);
    } else if (st == RunStatus::Finished) {
      run_training(r, &results);  // checks the stored config is this point's, prints "skipped"
      ++skipped;
    } else {
      if (st == RunStatus::Running) {  // stopped partway in a serial sweep: continue it in its worker file
        fs::create_directories(dir);
        ResultsFile to(point_file(dir, r.point_index));
        move_run(results, to, r.group);
      }
      pending.push_back(&r);
    }
  }
  std::fflush(stdout);

  const int width = int(std::min<std::size_t>(std::size_t(jobs), pending.size()));
  // Workers share the cores: OpenMP's default count (all of them, or
  // OMP_NUM_THREADS) divided among them, unless `threads` was set (results do
  // not depend on it).
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0 || sw.base.threads > 0) env.emplace_back(*e);
  if (sw.base.threads == 0 && width > 0) env.push_back("OMP_NUM_THREADS=" + std::to_string(std::max(1, omp_get_max_threads() / width)));
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  // The same command line with --job-point P after the subcommand.
  std::vector<std::string> args = own_arguments();
  std::size_t sub = 1;
  while (sub < args.size() && (args[sub] == "-q" || args[sub] == "--quiet")) ++sub;
  if (sub >= args.size() || args[sub] != "sweep") throw std::runtime_error("sweep --jobs: cannot read this command line from /proc/self/cmdline");

  if (width > 0) fs::create_directories(dir);
  worker_pids = std::make_unique<volatile std::sig_atomic_t[]>(std::size_t(std::max(width, 1)));
  worker_slots = width;
  for (int i = 0; i < width; ++i) worker_pids[i] = 0;
  parent_interrupts = 0;
  std::signal(SIGINT, on_parent_sigint);

  std::vector<Worker> running;
  std::vector<int> free_slots;
  for (int i = width - 1; i >= 0; --i) free_slots.push_back(i);
  std::size_t next = 0;
  int trained = 0;
  bool stop = false;  // a worker failed or was interrupted: start no more (as a serial sweep stops)
  bool interrupted = false;
  std::vector<std::string> failed_workers;
  const pid_t me = ::getpid();

  auto spawn = [&](const RunRequest& r) {
    std::vector<std::string> a = args;
    a.insert(a.begin() + std::ptrdiff_t(sub) + 1, {"--job-point", std::to_string(r.point_index)});
    std::vector<char*> argv;
    for (std::string& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error(std::string("sweep --jobs: pipe: ") + std::strerror(errno));
    if (::pipe2(err, O_CLOEXEC) != 0) {
      ::close(out[0]), ::close(out[1]);
      throw std::runtime_error(std::string("sweep --jobs: pipe: ") + std::strerror(errno));
    }
    std::fflush(stdout);
    std::fflush(stderr);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);  // the pid is in its slot before the handler can look
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::signal(SIGINT, SIG_DFL);
      ::setpgid(0, 0);  // a terminal's Ctrl-C goes to the parent only, which passes it on once
      ::prctl(PR_SET_PDEATHSIG, SIGINT);  // the parent killed: stop after the batch, as Ctrl-C
      if (::getppid() != me) ::_exit(130);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      if (const int nul = ::open("/dev/null", O_RDONLY); nul >= 0) ::dup2(nul, STDIN_FILENO);
      sigprocmask(SIG_SETMASK, &old, nullptr);
      ::execve("/proc/self/exe", argv.data(), envp.data());
      const char msg[] = "lpsim: error: sweep --jobs: cannot start a worker (exec /proc/self/exe)\n";
      [[maybe_unused]] const auto w = ::write(STDERR_FILENO, msg, sizeof msg - 1);
      ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(out[1]);
    ::close(err[1]);
    if (pid < 0) {
      sigprocmask(SIG_SETMASK, &old, nullptr);
      ::close(out[0]), ::close(err[0]);
      throw std::runtime_error(std::string("sweep --jobs: fork: ") + std::strerror(fork_errno));
    }
    Worker w;
    w.pid = pid;
    w.slot = free_slots.back();
    free_slots.pop_back();
    w.req = &r;
    w.fd[0] = out[0];
    w.fd[1] = err[0];
    worker_pids[w.slot] = pid;
    running.push_back(std::move(w));
    sigprocmask(SIG_SETMASK, &old, nullptr);
  };

  auto finish = [&](Worker& w) {
    int status = 0;
    while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
    }
    worker_pids[w.slot] = 0;
    free_slots.push_back(w.slot);
    const RunRequest& r = *w.req;
    const bool by_sigint = (WIFEXITED(status) && WEXITSTATUS(status) == 130) ||
                           (WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    if (by_sigint) {
      interrupted = stop = true;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      failed_workers.push_back(fmt::format("{} ({})", r.label,
                                           WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                                             : fmt::format("killed by signal {}", WTERMSIG(status))));
      stop = true;
    }
    const std::string file = point_file(dir, r.point_index);
    if (fs::exists(file)) fold_file(results, file, [&](const std::string& run) { return run == r.group; });
    if (results.status(r.group) == RunStatus::Finished) ++trained;
  };

  while (true) {
    while (!stop && parent_interrupts == 0 && !free_slots.empty() && next < pending.size()) spawn(*pending[next++]);
    if (running.empty()) break;
    std::vector<pollfd> fds;
    std::vector<std::pair<std::size_t, int>> who;
    for (std::size_t w = 0; w < running.size(); ++w)
      for (int i = 0; i < 2; ++i)
        if (running[w].fd[i] >= 0) fds.push_back({running[w].fd[i], POLLIN, 0}), who.emplace_back(w, i);
    if (!fds.empty() && ::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("sweep --jobs: poll: ") + std::strerror(errno));
    }
    for (std::size_t f = 0; f < fds.size(); ++f) {
      if (!(fds[f].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto [w, i] = who[f];
      Worker& wk = running[w];
      char chunk[65536];
      const ssize_t n = ::read(wk.fd[i], chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      const std::string prefix = fmt::format("[{}/{}] ", wk.req->point_index + 1, sw.grid_size);
      if (n > 0) {
        wk.buf[i].append(chunk, std::size_t(n));
        relay(wk, i, prefix, point_file(dir, wk.req->point_index), sw.base.output, false);
      } else {
        relay(wk, i, prefix, point_file(dir, wk.req->point_index), sw.base.output, true);
        ::close(wk.fd[i]);
        wk.fd[i] = -1;
      }
    }
    for (std::size_t w = 0; w < running.size();) {
      if (running[w].fd[0] < 0 && running[w].fd[1] < 0) {
        finish(running[w]);
        running.erase(running.begin() + std::ptrdiff_t(w));
      } else {
        ++w;
      }
    }
  }
  std::signal(SIGINT, SIG_DFL);
  worker_slots = 0;
  interrupted = interrupted || parent_interrupts > 0;
  std::error_code ec;
  fs::remove(dir, ec);  // only if empty: every point merged

  std::vector<std::string> failed;
  std::size_t unfinished = 0;
  for (const RunRequest& r : sw.mine) {
    const RunStatus st = results.status(r.group);
    if (st == RunStatus::Failed) failed.push_back(r.group + " (" + results.attribute(r.group, "error") + ")");
    if (!done(st)) ++unfinished;
  }
  summary(sw, trained, skipped, failed.size(), fmt::format(" ({} jobs)", jobs));
  std::string problems;
  if (!failed.empty()) problems = failed_points_message(sw, failed);
  if (!failed_workers.empty()) {
    std::string list;
    for (const std::string& f : failed_workers) list += "\n  " + f;
    problems += fmt::format("{}{} worker process(es) stopped with an error (its message is above, prefixed with "
                            "the point){}",
                            problems.empty() ? "" : "\n", failed_workers.size(), list);
  }
  if (interrupted)
    throw nn::Interrupted(fmt::format(
        "sweep interrupted: {} of {} points not finished (a point stopped partway keeps its finished epochs and "
        "checkpoint in {}); rerun the same lpsim sweep command to continue, with any --jobs{}{}",
        unfinished, sw.mine.size(), dir, problems.empty() ? "" : "\n", problems));
  if (!problems.empty()) throw std::runtime_error(problems);
}

}  // namespace lpsim::cli
