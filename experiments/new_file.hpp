// An output file a command creates: never over an existing file, never half
// written. The content goes to a temporary beside the target (<path>.tmp.<pid>),
// which is fsynced and then linked to the target name only if that name is
// still free (link(2) fails with EEXIST, atomically), so an error, a kill or
// a second writer leaves either no file or a complete one, and never
// replaces one. Used by `lpsim matmul -o` and `lpsim vectors -o`; the
// results files of train/sweep/merge have their own lock (results_file.hpp).
#pragma once

#include <string>

namespace lpsim::cli {

class NewFile {
 public:
  // Throws std::invalid_argument naming the path if it exists (a symlink too,
  // dangling or not) or its directory does not.
  explicit NewFile(std::string path);
  ~NewFile();  // removes the temporary unless committed
  NewFile(const NewFile&) = delete;
  NewFile& operator=(const NewFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& tmp() const { return tmp_; }  // write here
  void commit();                                  // fsync, link to path(), remove the temporary

 private:
  std::string path_, tmp_;
  bool done_ = false;
};

}  // namespace lpsim::cli
