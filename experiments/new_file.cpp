#include "experiments/new_file.hpp"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace lpsim::cli {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void refuse_existing(const std::string& path) {
  throw std::invalid_argument(path + " exists: lpsim does not overwrite files (remove it or choose another name)");
}

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

NewFile::NewFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw std::invalid_argument("the output path is empty");
  std::error_code ec;
  if (fs::symlink_status(path_, ec).type() != fs::file_type::not_found) refuse_existing(path_);
  const fs::path dir = fs::path(path_).parent_path();
  if (!dir.empty() && !fs::is_directory(dir, ec))
    throw std::invalid_argument(path_ + ": directory " + dir.string() + " does not exist");
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
}

NewFile::~NewFile() {
  if (!done_) ::unlink(tmp_.c_str());
}

void NewFile::commit() {
  fsync_path(tmp_, O_RDONLY);
  done_ = true;
  // rename without replacing; where the file system cannot (EINVAL), link + unlink does the same.
  int rc = ::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && errno == EINVAL) {
    rc = ::link(tmp_.c_str(), path_.c_str());
    if (rc == 0) ::unlink(tmp_.c_str());
  }
  if (rc != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    if (err == EEXIST) refuse_existing(path_);
    throw std::invalid_argument(path_ + ": cannot create (" + std::strerror(err) + ")");
  }
  const fs::path dir = fs::path(path_).parent_path();
  fsync_path(dir.empty() ? "." : dir.string(), O_RDONLY | O_DIRECTORY);
}

}  // namespace lpsim::cli
