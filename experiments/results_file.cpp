// Crash safety: every change is made to a copy (<path>.tmp), which is closed,
// fsynced and renamed over <path>. rename(2) is atomic, so whenever the
// process dies (SIGKILL included) <path> is the last cleanly closed file, and
// h5py opens it as usual. Alternatives rejected: writing in place and
// H5Fflush leaves a corrupt file if the kill lands during a metadata write;
// HDF5 1.10's SWMR forbids creating groups and attributes while in SWMR mode
// (a sweep adds runs as it goes) and leaves a file whose superblock flags need
// h5clear before a normal open. The price is copying the file once per epoch:
// results are kilobytes per run (weights: the size of the model), against
// epochs of seconds to minutes.
#include "experiments/results_file.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>

namespace lpsim::cli {

#ifndef LPSIM_GIT_DESCRIBE
#define LPSIM_GIT_DESCRIBE "unknown"
#endif

const char* code_version() { return LPSIM_GIT_DESCRIBE; }

namespace {

namespace fs = std::filesystem;

constexpr const char* kFormat = "lpsim-results";
constexpr std::int64_t kFormatVersion = 1;

// An HDF5 identifier closed on scope exit.
class H {
 public:
  H(hid_t id, herr_t (*close)(hid_t), const std::string& what) : id_(id), close_(close) {
    if (id < 0) throw std::runtime_error("HDF5: cannot " + what);
  }
  ~H() {
    if (id_ >= 0) close_(id_);
  }
  H(H&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  H(const H&) = delete;
  H& operator=(const H&) = delete;
  H& operator=(H&&) = delete;
  operator hid_t() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

void check(herr_t r, const std::string& what) {
  if (r < 0) throw std::runtime_error("HDF5: cannot " + what);
}

bool exists(hid_t loc, const std::string& name) { return H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0; }

H string_type() {
  H t(H5Tcopy(H5T_C_S1), H5Tclose, "copy a string type");
  check(H5Tset_size(t, H5T_VARIABLE), "size a string type");
  check(H5Tset_cset(t, H5T_CSET_UTF8), "set UTF-8");
  return t;
}

void set_attr_string(hid_t obj, const char* name, const std::string& value) {
  H type = string_type();
  if (H5Aexists(obj, name) > 0) check(H5Adelete(obj, name), std::string("replace attribute ") + name);
  H space(H5Screate(H5S_SCALAR), H5Sclose, "make a scalar space");
  H a(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, std::string("create attribute ") + name);
  const char* p = value.c_str();
  check(H5Awrite(a, type, &p), std::string("write attribute ") + name);
}

template <class T>
void set_attr_number(hid_t obj, const char* name, T value, hid_t file_type, hid_t mem_type) {
  if (H5Aexists(obj, name) > 0) check(H5Adelete(obj, name), std::string("replace attribute ") + name);
  H space(H5Screate(H5S_SCALAR), H5Sclose, "make a scalar space");
  H a(H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, std::string("create attribute ") + name);
  check(H5Awrite(a, mem_type, &value), std::string("write attribute ") + name);
}

std::string get_attr_string(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return "";
  H a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, std::string("open attribute ") + name);
  H type = string_type();
  char* p = nullptr;
  check(H5Aread(a, type, &p), std::string("read attribute ") + name);
  std::string s = p ? p : "";
  H5free_memory(p);
  return s;
}

// Writes a dataset of shape `dims`, creating it extendible along axis 0 (or
// resizing the existing one): each epoch rewrites the whole history.
void write_array(hid_t group, const std::string& name, hid_t file_type, hid_t mem_type, const std::vector<hsize_t>& dims,
                 const void* data) {
  const int rank = int(dims.size());
  if (!exists(group, name)) {
    std::vector<hsize_t> max = dims, chunk = dims;
    max[0] = H5S_UNLIMITED;
    chunk[0] = 16;
    for (auto& c : chunk) c = std::max<hsize_t>(c, 1);
    H space(H5Screate_simple(rank, dims.data(), max.data()), H5Sclose, "make a dataspace for " + name);
    H plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "make a property list");
    check(H5Pset_chunk(plist, rank, chunk.data()), "chunk " + name);
    H d(H5Dcreate2(group, name.c_str(), file_type, space, H5P_DEFAULT, plist, H5P_DEFAULT), H5Dclose, "create " + name);
    if (dims[0] > 0) check(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "write " + name);
    return;
  }
  H d(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose, "open " + name);
  check(H5Dset_extent(d, dims.data()), "resize " + name);
  if (dims[0] > 0) check(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "write " + name);
}

// A fixed dataset written once (layer names, final weights).
void write_fixed(hid_t group, const std::string& name, hid_t file_type, hid_t mem_type, const std::vector<hsize_t>& dims,
                 const void* data) {
  if (exists(group, name)) check(H5Ldelete(group, name.c_str(), H5P_DEFAULT), "replace " + name);
  H space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose,
          "make a dataspace for " + name);
  H d(H5Dcreate2(group, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose, "create " + name);
  check(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "write " + name);
}

H open_or_create_group(hid_t loc, const std::string& name) {
  if (exists(loc, name)) return H(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), H5Gclose, "open group " + name);
  return H(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, "create group " + name);
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Opens an existing results file read-only, checking it is one.
H open_results(const std::string& path, unsigned flags) {
  const hid_t f = H5Fopen(path.c_str(), flags, H5P_DEFAULT);
  if (f < 0) throw std::runtime_error(path + " exists but is not an HDF5 file (not overwriting it)");
  H file(f, H5Fclose, "open " + path);
  if (get_attr_string(file, "format") != kFormat)
    throw std::runtime_error(path + " is an HDF5 file but not an lpsim results file (no format=\"lpsim-results\" attribute)");
  return file;
}

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_epoch_tables(hid_t run, const std::vector<nn::EpochRecord>& h) {
  const hsize_t n = h.size();
  H epochs = open_or_create_group(run, "epochs");
  auto column = [&](const char* name, auto get) {
    std::vector<double> v;
    for (const auto& r : h) v.push_back(get(r));
    write_array(epochs, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {n}, v.data());
  };
  std::vector<std::int32_t> ep;
  for (const auto& r : h) ep.push_back(r.epoch);
  write_array(epochs, "epoch", H5T_STD_I32LE, H5T_NATIVE_INT32, {n}, ep.data());
  column("train_loss", [](const nn::EpochRecord& r) { return r.train_loss; });
  column("train_acc", [](const nn::EpochRecord& r) { return r.train_acc; });
  column("test_loss", [](const nn::EpochRecord& r) { return r.test_loss; });
  column("test_acc", [](const nn::EpochRecord& r) { return r.test_acc; });
  column("lr", [](const nn::EpochRecord& r) { return r.lr; });
  column("seconds", [](const nn::EpochRecord& r) { return r.seconds; });
  column("images_per_second", [](const nn::EpochRecord& r) { return r.images_per_second; });
  column("bitops", [](const nn::EpochRecord& r) { return r.bitops; });
  column("bitops_fp32", [](const nn::EpochRecord& r) { return r.bitops_fp32; });
  if (h.empty()) return;

  const std::size_t L = h.front().layers.size();
  for (const auto& r : h)
    if (r.layers.size() != L) throw std::logic_error("epoch records with different layer counts");
  H layers = open_or_create_group(run, "layers");
  if (!exists(layers, "name")) {
    std::vector<const char*> names;
    std::vector<std::int32_t> depth;
    std::vector<std::int64_t> params;
    for (const auto& l : h.front().layers) names.push_back(l.name.c_str()), depth.push_back(l.depth), params.push_back(l.params);
    H st = string_type();
    write_fixed(layers, "name", st, st, {L}, names.data());
    write_fixed(layers, "depth", H5T_STD_I32LE, H5T_NATIVE_INT32, {L}, depth.data());
    write_fixed(layers, "params", H5T_STD_I64LE, H5T_NATIVE_INT64, {L}, params.data());
    set_attr_string(layers, "products", "axis 2 of (epoch, layer, product) tables: fwd, bwd_data, bwd_weight");
  }
  auto per_layer = [&](const char* name, auto get) {
    std::vector<double> v;
    for (const auto& r : h)
      for (const auto& l : r.layers) v.push_back(get(l));
    write_array(layers, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {n, L}, v.data());
  };
  per_layer("bits_w", [](const nn::LayerEpoch& l) { return l.bits_w; });
  per_layer("bits_a", [](const nn::LayerEpoch& l) { return l.bits_a; });
  per_layer("bits_e", [](const nn::LayerEpoch& l) { return l.bits_e; });
  per_layer("bits_g", [](const nn::LayerEpoch& l) { return l.bits_g; });
  auto per_product = [&](const char* name, hid_t ft, hid_t mt, auto get) {
    using V = decltype(get(h.front().layers.front(), 0));
    std::vector<V> v;
    for (const auto& r : h)
      for (const auto& l : r.layers)
        for (int p = 0; p < 3; ++p) v.push_back(get(l, p));
    write_array(layers, name, ft, mt, {n, L, 3}, v.data());
  };
  per_product("k", H5T_STD_I64LE, H5T_NATIVE_INT64, [](const nn::LayerEpoch& l, int p) { return std::int64_t(l.k[p]); });
  per_product("usage_a", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, [](const nn::LayerEpoch& l, int p) { return l.usage_a[p]; });
  per_product("usage_b", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, [](const nn::LayerEpoch& l, int p) { return l.usage_b[p]; });
  per_product("additions", H5T_STD_U64LE, H5T_NATIVE_UINT64, [](const nn::LayerEpoch& l, int p) { return std::uint64_t(l.counts[p].additions); });
  per_product("swamped", H5T_STD_U64LE, H5T_NATIVE_UINT64, [](const nn::LayerEpoch& l, int p) { return std::uint64_t(l.counts[p].swamped); });
  per_product("overflows", H5T_STD_U64LE, H5T_NATIVE_UINT64, [](const nn::LayerEpoch& l, int p) { return std::uint64_t(l.counts[p].overflows); });
  per_product("saturations", H5T_STD_U64LE, H5T_NATIVE_UINT64, [](const nn::LayerEpoch& l, int p) { return std::uint64_t(l.counts[p].saturations); });
  bool learned = false;
  for (const auto& r : h)
    for (const auto& l : r.layers) learned = learned || !std::isnan(l.policy_param);
  if (learned) per_layer("policy_param", [](const nn::LayerEpoch& l) { return l.policy_param; });
  bool errors = false;
  for (const auto& r : h)
    for (const auto& l : r.layers) errors = errors || l.has_error;
  if (errors) {
    per_product("max_rel_error", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, [](const nn::LayerEpoch& l, int p) { return l.max_rel_error[p]; });
    per_product("mean_rel_error", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, [](const nn::LayerEpoch& l, int p) { return l.mean_rel_error[p]; });
    per_product("sqnr_db", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, [](const nn::LayerEpoch& l, int p) { return l.sqnr_db[p]; });
  }
}

}  // namespace

ResultsFile::ResultsFile(std::string path) : path_(std::move(path)) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become exceptions with our messages
  if (path_.empty()) throw std::runtime_error("the results file path is empty");
  std::error_code ec;
  real_ = fs::weakly_canonical(fs::absolute(path_), ec).string();
  if (ec || real_.empty()) real_ = fs::absolute(path_).string();
  if (fs::is_directory(real_, ec)) throw std::runtime_error(path_ + " is a directory, not a results file");
  const fs::path dir = fs::path(real_).parent_path();
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(path_ + ": directory " + dir.string() + " does not exist");
  const std::string lock = real_ + ".lock";
  // flock is released by the kernel when the process dies, however it dies.
  // The holder unlinks the lock file when done, so a process that opened it
  // just before may lock a file no longer at that path: it checks the inode
  // and tries again.
  for (;;) {
    lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) throw std::runtime_error("cannot create lock file " + lock + ": " + std::strerror(errno));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      char pid[32] = {0};
      [[maybe_unused]] const auto n = ::pread(lock_fd_, pid, sizeof pid - 1, 0);
      ::close(lock_fd_);
      lock_fd_ = -1;
      throw ResultsBusy("results file " + path_ + " is being written by another process (pid " +
                        std::string(pid[0] ? pid : "?") + ", lock " + lock + ")");
    }
    struct stat held{}, at_path{};
    if (::fstat(lock_fd_, &held) == 0 && ::stat(lock.c_str(), &at_path) == 0 && held.st_ino == at_path.st_ino &&
        held.st_dev == at_path.st_dev)
      break;
    ::close(lock_fd_);
  }
  const std::string me = std::to_string(::getpid());
  if (::ftruncate(lock_fd_, 0) == 0) [[maybe_unused]] auto w = ::pwrite(lock_fd_, me.data(), me.size(), 0);
  try {
    existed_ = fs::exists(real_);
    if (existed_) open_results(real_, H5F_ACC_RDONLY);
  } catch (...) {
    release();
    throw;
  }
}

void ResultsFile::release() {
  if (lock_fd_ < 0) return;
  std::error_code ec;
  fs::remove(real_ + ".ckpt", ec);  // only if empty
  ::unlink((real_ + ".lock").c_str());  // still held: nobody else can be using it
  ::close(lock_fd_);
  lock_fd_ = -1;
}

ResultsFile::~ResultsFile() { release(); }

template <class F>
void ResultsFile::update(F&& edit) {
  const std::string tmp = real_ + ".tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  try {
    std::unique_ptr<H> file;
    if (fs::exists(real_)) {
      fs::copy_file(real_, tmp, fs::copy_options::overwrite_existing);
      file = std::make_unique<H>(H5Fopen(tmp.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose, "open " + tmp);
    } else {
      file = std::make_unique<H>(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose, "create " + tmp);
      set_attr_string(*file, "format", kFormat);
      set_attr_number(*file, "format_version", kFormatVersion, H5T_STD_I64LE, H5T_NATIVE_INT64);
    }
    edit(hid_t(*file));
  } catch (...) {  // the file is as it was; the copy goes
    fs::remove(tmp, ec);
    throw;
  }  // closed: everything is on disk in tmp
  fsync_path(tmp, O_RDONLY);
  fs::rename(tmp, real_);
  fsync_path(fs::path(real_).parent_path().string(), O_RDONLY | O_DIRECTORY);
}

RunStatus ResultsFile::status(const std::string& run) const {
  if (!fs::exists(real_)) return RunStatus::Absent;
  H file = open_results(real_, H5F_ACC_RDONLY);
  if (!exists(file, run)) return RunStatus::Absent;
  H g(H5Gopen2(file, run.c_str(), H5P_DEFAULT), H5Gclose, "open run " + run);
  const std::string st = get_attr_string(g, "status");
  return st == "finished" ? RunStatus::Finished : st == "failed" ? RunStatus::Failed : RunStatus::Running;
}

std::string ResultsFile::attribute(const std::string& run, const std::string& name) const {
  H file = open_results(real_, H5F_ACC_RDONLY);
  H g(H5Gopen2(file, run.c_str(), H5P_DEFAULT), H5Gclose, "open run " + run + " in " + path_);
  return get_attr_string(g, name.c_str());
}

namespace {

// The run groups at the top of an open results file, by name.
std::vector<std::string> run_names(hid_t file, const std::string& path) {
  std::vector<std::string> out;
  H5G_info_t info;
  check(H5Gget_info(file, &info), "list " + path);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(std::size_t(len), '\0');
    H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), std::size_t(len) + 1, H5P_DEFAULT);
    out.push_back(name);
  }
  return out;
}

}  // namespace

std::vector<std::string> ResultsFile::runs() const {
  if (!fs::exists(real_)) return {};
  H file = open_results(real_, H5F_ACC_RDONLY);
  return run_names(file, path_);
}

void ResultsFile::create_if_absent() {
  if (!fs::exists(real_)) update([](hid_t) {});
}

void ResultsFile::begin_run(const std::string& run, const RunMeta& m) {
  update([&](hid_t file) {
    if (exists(file, run)) check(H5Ldelete(file, run.c_str(), H5P_DEFAULT), "replace run " + run);
    H g = open_or_create_group(file, run);
    set_attr_string(g, "config", m.config);
    set_attr_string(g, "code_version", code_version());
    set_attr_number(g, "seed", m.seed, H5T_STD_U64LE, H5T_NATIVE_UINT64);
    set_attr_string(g, "start_time", utc_now());
    set_attr_string(g, "status", "running");
    if (m.point_index >= 0) {
      set_attr_string(g, "point", m.point);
      set_attr_number(g, "point_index", m.point_index, H5T_STD_I64LE, H5T_NATIVE_INT64);
    }
  });
}

void ResultsFile::write_epochs(const std::string& run, const std::vector<nn::EpochRecord>& history) {
  update([&](hid_t file) {
    H g(H5Gopen2(file, run.c_str(), H5P_DEFAULT), H5Gclose, "open run " + run);
    write_epoch_tables(g, history);
  });
}

void ResultsFile::finish_run(const std::string& run, const std::vector<nn::NamedArray>& weights) {
  update([&](hid_t file) {
    H g(H5Gopen2(file, run.c_str(), H5P_DEFAULT), H5Gclose, "open run " + run);
    H w = open_or_create_group(g, "weights");
    for (const nn::NamedArray& a : weights) {
      std::vector<hsize_t> dims(a.shape.begin(), a.shape.end());
      write_fixed(w, a.name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims, a.data.data());
    }
    set_attr_string(g, "status", "finished");
    set_attr_string(g, "end_time", utc_now());
  });
}

void ResultsFile::fail_run(const std::string& run, const std::string& reason) {
  update([&](hid_t file) {
    H g(H5Gopen2(file, run.c_str(), H5P_DEFAULT), H5Gclose, "open run " + run);
    set_attr_string(g, "status", "failed");
    set_attr_string(g, "error", reason);
    set_attr_string(g, "end_time", utc_now());
  });
}

void ResultsFile::discard_run(const std::string& run) {
  if (!existed_ && runs() == std::vector<std::string>{run}) {
    std::error_code ec;
    fs::remove(real_, ec);
    return;
  }
  update([&](hid_t file) {
    if (exists(file, run)) check(H5Ldelete(file, run.c_str(), H5P_DEFAULT), "remove run " + run);
  });
}

void ResultsFile::merge_from(const std::string& other) {
  if (!fs::exists(other)) throw std::runtime_error("merge: " + other + " does not exist");
  std::vector<std::string> names;
  {
    H src = open_results(other, H5F_ACC_RDONLY);
    names = run_names(src, other);
  }
  merge_from(other, names);
}

void ResultsFile::merge_from(const std::string& other, const std::vector<std::string>& names) {
  if (!fs::exists(other)) throw std::runtime_error("merge: " + other + " does not exist");
  H src = open_results(other, H5F_ACC_RDONLY);
  for (const std::string& n : names)
    if (!exists(src, n)) throw std::runtime_error("merge: " + other + " has no run \"" + n + "\"");
  update([&](hid_t file) {
    for (const std::string& n : names) {
      if (exists(file, n)) throw std::runtime_error("run \"" + n + "\" of " + other + " is already in " + path_);
      check(H5Ocopy(src, n.c_str(), file, n.c_str(), H5P_DEFAULT, H5P_DEFAULT), "copy run " + n + " from " + other);
    }
  });
}

void ResultsFile::remove_runs(const std::vector<std::string>& runs) {
  if (runs.empty()) return;
  update([&](hid_t file) {
    for (const std::string& n : runs)
      if (exists(file, n)) check(H5Ldelete(file, n.c_str(), H5P_DEFAULT), "remove run " + n);
  });
}

std::string ResultsFile::checkpoint_path(const std::string& run) const {
  const std::string dir = real_ + ".ckpt";
  fs::create_directories(dir);
  return dir + "/" + run + ".ckpt";
}

}  // namespace lpsim::cli
