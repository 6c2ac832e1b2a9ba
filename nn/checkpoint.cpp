#include "nn/checkpoint.hpp"

#include <fcntl.h>
#include <zlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <type_traits>

#include "nn/nn.hpp"

namespace lpsim::nn {

namespace {

NamedArray array_of(const std::string& name, const Tensor<float>& t) {
  return {name, std::vector<std::int64_t>(t.shape.begin(), t.shape.end()), {t.data.begin(), t.data.end()}};
}

// A's running range (nn/product.hpp), when the layer keeps one.
Tensor<float>* running_range_of(Layer<float>* l) {
  if (auto* c = dynamic_cast<Conv2d<float>*>(l)) return c->precision.a_running_range ? &c->a_range.state : nullptr;
  if (auto* f = dynamic_cast<Linear<float>*>(l)) return f->precision.a_running_range ? &f->a_range.state : nullptr;
  return nullptr;
}

std::uint64_t* iteration_of(Layer<float>* l) {
  if (auto* c = dynamic_cast<Conv2d<float>*>(l)) return &c->iteration;
  if (auto* f = dynamic_cast<Linear<float>*>(l)) return &f->iteration;
  return nullptr;
}

// Raw bytes of trivially copyable values; the header's byte-order mark
// rejects a file from a machine of the other endianness.
class Writer {
 public:
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    buf.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put(const std::string& s) {
    put(std::uint64_t(s.size()));
    buf += s;
  }
  template <class T>
  void put_vec(const std::vector<T>& v) {
    put(std::uint64_t(v.size()));
    buf.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  std::string buf;
};

class Reader {
 public:
  Reader(std::string bytes, std::string path) : buf_(std::move(bytes)), path_(std::move(path)) {}
  template <class T>
  T get() {
    T v;
    need(sizeof v);
    std::memcpy(&v, buf_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string get_str() {
    const auto n = get<std::uint64_t>();
    need(n);
    std::string s = buf_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  template <class T>
  std::vector<T> get_vec() {
    const auto n = get<std::uint64_t>();
    if (n > buf_.size()) need(n);  // also guards n * sizeof(T) against overflow
    need(n * sizeof(T));
    std::vector<T> v(n);
    std::memcpy(v.data(), buf_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return v;
  }
  bool done() const { return pos_ == buf_.size(); }

 private:
  void need(std::size_t n) {
    if (n > buf_.size() - pos_) throw std::runtime_error("checkpoint " + path_ + " is truncated or corrupt");
  }
  std::string buf_, path_;
  std::size_t pos_ = 0;
};

// Version 2 ends in the CRC-32 of everything before it, so a damaged file is
// refused rather than resumed; version 1 (no checksum) is still read.
constexpr char kMagic[8] = {'L', 'P', 'S', 'I', 'M', 'C', 'K', '2'};
constexpr char kMagicV1[8] = {'L', 'P', 'S', 'I', 'M', 'C', 'K', '1'};

std::uint32_t crc_of(const char* p, std::size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  for (std::size_t at = 0; at < n;) {  // zlib counts in 32-bit uInt
    const std::size_t k = std::min<std::size_t>(n - at, std::size_t(1) << 30);
    c = crc32(c, reinterpret_cast<const Bytef*>(p + at), uInt(k));
    at += k;
  }
  return std::uint32_t(c);
}
constexpr std::uint32_t kByteOrder = 0x01020304;

void put_record(Writer& w, const EpochRecord& r) {
  w.put(r.epoch);
  for (double v : {r.train_loss, r.train_acc, r.test_loss, r.test_acc, r.lr, r.seconds, r.images_per_second, r.bitops,
                   r.bitops_fp32})
    w.put(v);
  w.put(std::uint64_t(r.layers.size()));
  for (const LayerEpoch& l : r.layers) {
    w.put(l.name);
    w.put(l.depth);
    w.put(l.params);
    for (double v : {l.bits_w, l.bits_a, l.bits_e, l.bits_g}) w.put(v);
    for (int p = 0; p < 3; ++p) {
      w.put(l.k[p]);
      w.put(l.usage_a[p]);
      w.put(l.usage_b[p]);
      w.put(l.counts[p]);
      w.put(l.max_rel_error[p]);
      w.put(l.mean_rel_error[p]);
      w.put(l.sqnr_db[p]);
    }
    w.put(std::uint8_t(l.has_error));
  }
}

}  // namespace

std::vector<NamedArray> model_arrays(Model& m, bool with_optimizer_state) {
  std::vector<NamedArray> out;
  for (Param<float>* p : m.params()) {
    out.push_back(array_of(p->name, p->value));
    if (with_optimizer_state)
      for (std::size_t i = 0; i < p->state.size(); ++i) out.push_back(array_of(p->name + "#slot" + std::to_string(i), p->state[i]));
  }
  for (Layer<float>* l : m.layers())
    if (auto* bn = dynamic_cast<BatchNorm2d<float>*>(l)) {
      out.push_back(array_of(bn->name + ".running_mean", bn->running_mean));
      out.push_back(array_of(bn->name + ".running_var", bn->running_var));
    }
  for (Layer<float>* l : m.product_layers())
    if (Tensor<float>* r = running_range_of(l)) out.push_back(array_of(l->name + ".a_range", *r));
  return out;
}

TrainState capture_state(Model& m, const PrecisionPolicy& policy, int epochs_done, std::int64_t iteration,
                         const std::vector<EpochRecord>& history) {
  TrainState s;
  s.epochs_done = epochs_done;
  s.iteration = iteration;
  s.history = history;
  s.arrays = model_arrays(m, true);
  for (Layer<float>* l : m.product_layers())
    if (const std::uint64_t* it = iteration_of(l)) s.counters.emplace_back(l->name + ".iteration", *it);
  s.policy = policy.state();
  return s;
}

void restore_state(Model& m, PrecisionPolicy& policy, const TrainState& s) {
  std::map<std::string, const NamedArray*> by_name;
  for (const NamedArray& a : s.arrays) by_name[a.name] = &a;
  std::size_t used = 0;
  auto take = [&](const std::string& name, Tensor<float>& t, bool required) {
    const auto f = by_name.find(name);
    if (f == by_name.end()) {
      if (required) throw std::runtime_error("checkpoint has no tensor \"" + name + "\" (a different model?)");
      return false;
    }
    const NamedArray& a = *f->second;
    if (std::vector<std::int64_t>(t.shape.begin(), t.shape.end()) != a.shape || a.data.size() != t.data.size())
      throw std::runtime_error("checkpoint tensor \"" + name + "\" has another shape than the model's " + shape_str(t.shape));
    t.data.assign(a.data.begin(), a.data.end());
    ++used;
    return true;
  };
  for (Param<float>* p : m.params()) {
    take(p->name, p->value, true);
    p->state.clear();
    for (std::size_t i = 0;; ++i) {
      Tensor<float> slot(p->value.shape);
      if (!take(p->name + "#slot" + std::to_string(i), slot, false)) break;
      p->state.push_back(std::move(slot));
    }
  }
  for (Layer<float>* l : m.layers())
    if (auto* bn = dynamic_cast<BatchNorm2d<float>*>(l)) {
      take(bn->name + ".running_mean", bn->running_mean, true);
      take(bn->name + ".running_var", bn->running_var, true);
    }
  for (Layer<float>* l : m.product_layers())
    if (Tensor<float>* r = running_range_of(l)) take(l->name + ".a_range", *r, true);
  if (used != s.arrays.size()) throw std::runtime_error("checkpoint has tensors the model does not (a different model?)");
  std::map<std::string, std::uint64_t> counters(s.counters.begin(), s.counters.end());
  for (Layer<float>* l : m.product_layers())
    if (std::uint64_t* it = iteration_of(l)) {
      const auto f = counters.find(l->name + ".iteration");
      if (f == counters.end()) throw std::runtime_error("checkpoint has no step counter of layer \"" + l->name + "\"");
      *it = f->second;
    }
  policy.set_state(s.policy);
}

void save_checkpoint(const std::string& path, const TrainState& s) {
  Writer w;
  w.buf.append(kMagic, sizeof kMagic);
  w.put(kByteOrder);
  w.put(s.epochs_done);
  w.put(s.iteration);
  w.put(std::uint64_t(s.history.size()));
  for (const EpochRecord& r : s.history) put_record(w, r);
  w.put(std::uint64_t(s.arrays.size()));
  for (const NamedArray& a : s.arrays) {
    w.put(a.name);
    w.put_vec(a.shape);
    w.put_vec(a.data);
  }
  w.put(std::uint64_t(s.counters.size()));
  for (const auto& [name, v] : s.counters) {
    w.put(name);
    w.put(v);
  }
  w.put_vec(s.policy);
  w.put(crc_of(w.buf.data(), w.buf.size()));

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write checkpoint " + tmp + ": " + std::strerror(errno));
  std::size_t off = 0;
  while (off < w.buf.size()) {
    const ssize_t n = ::write(fd, w.buf.data() + off, w.buf.size() - off);
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw std::runtime_error("cannot write checkpoint " + tmp + ": " + std::strerror(err));
    }
    off += std::size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw std::runtime_error("cannot write checkpoint " + tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
}

TrainState load_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open checkpoint " + path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const bool v2 = bytes.size() >= sizeof kMagic && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0;
  const bool v1 = bytes.size() >= sizeof kMagic && std::memcmp(bytes.data(), kMagicV1, sizeof kMagic) == 0;
  if (!v1 && !v2) throw std::runtime_error(path + " is not an lpsim checkpoint (version 1 or 2)");
  if (v2) {
    std::uint32_t stored = 0;
    if (bytes.size() < sizeof kMagic + sizeof stored) throw std::runtime_error("checkpoint " + path + " is truncated");
    std::memcpy(&stored, bytes.data() + bytes.size() - sizeof stored, sizeof stored);
    bytes.resize(bytes.size() - sizeof stored);
    if (crc_of(bytes.data(), bytes.size()) != stored)
      throw std::runtime_error("checkpoint " + path +
                               " fails its checksum (damaged): remove it to train the run again from the start, "
                               "or restore it from a backup");
  }
  Reader r(bytes.substr(sizeof kMagic), path);
  if (r.get<std::uint32_t>() != kByteOrder) throw std::runtime_error("checkpoint " + path + " is from a machine of another byte order");
  TrainState s;
  s.epochs_done = r.get<int>();
  s.iteration = r.get<std::int64_t>();
  const auto epochs = r.get<std::uint64_t>();
  for (std::uint64_t i = 0; i < epochs; ++i) {
    EpochRecord e;
    e.epoch = r.get<int>();
    for (double* v : {&e.train_loss, &e.train_acc, &e.test_loss, &e.test_acc, &e.lr, &e.seconds, &e.images_per_second,
                      &e.bitops, &e.bitops_fp32})
      *v = r.get<double>();
    const auto layers = r.get<std::uint64_t>();
    for (std::uint64_t j = 0; j < layers; ++j) {
      LayerEpoch l;
      l.name = r.get_str();
      l.depth = r.get<int>();
      l.params = r.get<std::int64_t>();
      for (double* v : {&l.bits_w, &l.bits_a, &l.bits_e, &l.bits_g}) *v = r.get<double>();
      for (int p = 0; p < 3; ++p) {
        l.k[p] = r.get<std::int64_t>();
        l.usage_a[p] = r.get<double>();
        l.usage_b[p] = r.get<double>();
        l.counts[p] = r.get<sim::MacCounts>();
        l.max_rel_error[p] = r.get<double>();
        l.mean_rel_error[p] = r.get<double>();
        l.sqnr_db[p] = r.get<double>();
      }
      l.has_error = r.get<std::uint8_t>() != 0;
      e.layers.push_back(std::move(l));
    }
    s.history.push_back(std::move(e));
  }
  const auto arrays = r.get<std::uint64_t>();
  for (std::uint64_t i = 0; i < arrays; ++i) {
    NamedArray a;
    a.name = r.get_str();
    a.shape = r.get_vec<std::int64_t>();
    a.data = r.get_vec<float>();
    s.arrays.push_back(std::move(a));
  }
  const auto counters = r.get<std::uint64_t>();
  for (std::uint64_t i = 0; i < counters; ++i) {
    std::string name = r.get_str();
    s.counters.emplace_back(std::move(name), r.get<std::uint64_t>());
  }
  s.policy = r.get_vec<double>();
  if (!r.done()) throw std::runtime_error("checkpoint " + path + " has trailing bytes (corrupt?)");
  return s;
}

}  // namespace lpsim::nn
