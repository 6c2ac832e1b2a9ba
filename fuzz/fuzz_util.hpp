// Shared by the libFuzzer targets (scripts/fuzz.sh): a reusable in-memory
// file for the readers that take a path, and a loud abort for a broken
// invariant (a finding, like a crash or a sanitizer report).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace lpsim::fuzz {

// An anonymous memory file (memfd_create), rewritten for every input and
// read back through /proc/self/fd/N, so readers open it by path like any
// file without touching the disk.
class MemFile {
 public:
  MemFile() {
    fd_ = memfd_create("lpsim-fuzz", 0);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  // Replaces the contents with data[0, size).
  const std::string& write(const std::uint8_t* data, std::size_t size) {
    if (ftruncate(fd_, 0) != 0) fatal("ftruncate");
    std::size_t done = 0;
    while (done < size) {
      const ssize_t w = pwrite(fd_, data + done, size - done, off_t(done));
      if (w <= 0) fatal("pwrite");
      done += std::size_t(w);
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] static void fatal(const char* what) {
    std::perror(what);
    std::abort();
  }
  int fd_ = -1;
  std::string path_;
};

// A broken invariant: print it and abort, so libFuzzer keeps the input.
[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "lpsim fuzz finding: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace lpsim::fuzz
