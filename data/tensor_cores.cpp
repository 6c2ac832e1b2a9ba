#include "data/tensor_cores.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>

#include "data/error.hpp"
#include "data/file_bytes.hpp"

namespace lpsim::data {

namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMaxFileBytes = std::uint64_t(1) << 28;  // 256 MiB of text: 2^20 vectors of K = 32

// "x.txt.gz" when present, else "x.txt"; empty when neither exists.
std::string find(const fs::path& dir, const std::string& stem) {
  for (const char* ext : {".txt.gz", ".txt"}) {
    const fs::path p = dir / (stem + ext);
    if (fs::exists(p)) return p.string();
  }
  return {};
}

// Lines of whitespace-separated words; each word through `parse` (false: bad word).
template <class Parse>
std::vector<std::vector<float>> read_words(const std::string& path, const char* expected, Parse parse) {
  const auto bytes = read_file_bytes(path, std::string("a tensor-core data file (") + expected + ")", kMaxFileBytes);
  std::vector<std::vector<float>> lines;
  std::vector<float> line;
  std::string word;
  std::int64_t number = 1;
  auto end_word = [&] {
    if (word.empty()) return;
    float v;
    if (!parse(word, v)) fail(path, std::string(expected) + " on line " + std::to_string(number), "\"" + word + "\"");
    if (std::int64_t(line.size()) == kTensorCoreMaxK)
      fail(path, "at most " + std::to_string(kTensorCoreMaxK) + " values on a line", "more on line " + std::to_string(number));
    line.push_back(v);
    word.clear();
  };
  for (const std::uint8_t ch : bytes) {
    if (ch == '\n') {
      end_word();
      if (!line.empty()) {
        if (std::int64_t(lines.size()) == kTensorCoreMaxVectors)
          fail(path, "at most " + std::to_string(kTensorCoreMaxVectors) + " lines", "more");
        lines.push_back(std::move(line));
      } else {
        fail(path, std::string(expected) + " on line " + std::to_string(number), "an empty line");
      }
      line.clear();
      ++number;
    } else if (ch == ' ' || ch == '\t' || ch == '\r') {
      end_word();
    } else {
      if (word.size() > 64) fail(path, std::string(expected) + " on line " + std::to_string(number), "a word of over 64 characters");
      word.push_back(char(ch));
    }
  }
  end_word();
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

bool hex32(const std::string& w, float& v) {
  if (w.size() != 8) return false;
  std::uint32_t u = 0;
  for (char ch : w) {
    const int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
    if (d < 0) return false;
    u = u << 4 | std::uint32_t(d);
  }
  v = std::bit_cast<float>(u);
  return true;
}

bool binary32(const std::string& w, float& v) {
  if (w.size() != 32) return false;
  std::uint32_t u = 0;
  for (char ch : w) {
    if (ch != '0' && ch != '1') return false;
    u = u << 1 | std::uint32_t(ch - '0');
  }
  v = std::bit_cast<float>(u);
  return true;
}

}  // namespace

TensorCoreSet read_tensor_core_set(const std::string& dir_name) {
  const fs::path dir(dir_name);
  TensorCoreSet s;
  s.input = dir.filename().string();
  s.gpu = dir.parent_path().filename().string();
  if (s.input.empty() || s.gpu.empty()) fail(dir_name, "a <root>/<GPU>/<input> directory", "no GPU or input name in the path");
  const std::string tag = s.gpu + "_" + s.input;
  const std::string pa = find(dir, "a_" + tag), pb = find(dir, "b_" + tag), pc = find(dir, "c_" + s.gpu + "_fp32");
  for (const auto& [p, stem] : {std::pair{pa, "a_" + tag}, {pb, "b_" + tag}, {pc, "c_" + s.gpu + "_fp32"}})
    if (p.empty()) fail((dir / (stem + ".txt.gz")).string(), "a tensor-core data file", "no such file (nor .txt)");
  const auto a = read_words(pa, "8-digit hex fp32 patterns", hex32);
  const auto b = read_words(pb, "8-digit hex fp32 patterns", hex32);
  if (a.empty()) fail(pa, "at least one vector", "none");
  s.n = std::int64_t(a.size());
  s.k = std::int64_t(a[0].size());
  auto check = [&](const std::string& path, const std::vector<std::vector<float>>& lines, std::int64_t width) {
    if (std::int64_t(lines.size()) != s.n)
      fail(path, std::to_string(s.n) + " lines (as " + pa + ")", std::to_string(lines.size()));
    for (std::size_t i = 0; i < lines.size(); ++i)
      if (std::int64_t(lines[i].size()) != width)
        fail(path, std::to_string(width) + " values on line " + std::to_string(i + 1), std::to_string(lines[i].size()));
  };
  check(pa, a, s.k);
  check(pb, b, s.k);
  for (const auto& v : a) s.a.insert(s.a.end(), v.begin(), v.end());
  for (const auto& v : b) s.b.insert(s.b.end(), v.begin(), v.end());
  auto one_column = [&](const std::string& path) {
    const auto lines = read_words(path, "32-character binary fp32 patterns", binary32);
    check(path, lines, 1);
    std::vector<float> out;
    for (const auto& v : lines) out.push_back(v[0]);
    return out;
  };
  s.c = one_column(pc);
  if (const std::string p = find(dir, "d_" + s.gpu + "_fp32"); !p.empty()) s.d_fp32 = one_column(p);
  if (const std::string p = find(dir, "d_" + s.gpu + "_fp16"); !p.empty()) s.d_fp16 = one_column(p);
  const std::string psa = find(dir, "sa_" + tag), psb = find(dir, "sb_" + tag);
  if (psa.empty() != psb.empty())
    fail((dir / ((psa.empty() ? "sa_" : "sb_") + tag + ".txt")).string(), "block scales of both operands (sa_ and sb_)",
         "only one of them");
  if (!psa.empty()) {
    const auto sa = read_words(psa, "8-digit hex fp32 scale values", hex32);
    const auto sb = read_words(psb, "8-digit hex fp32 scale values", hex32);
    s.blocks = sa.empty() ? 0 : std::int64_t(sa[0].size());
    if (s.blocks == 0 || s.k % s.blocks)
      fail(psa, "a number of scales per line dividing K = " + std::to_string(s.k), std::to_string(s.blocks));
    check(psa, sa, s.blocks);
    check(psb, sb, s.blocks);
    for (const auto& v : sa) s.sa.insert(s.sa.end(), v.begin(), v.end());
    for (const auto& v : sb) s.sb.insert(s.sb.end(), v.begin(), v.end());
  }
  if (const fs::path pm = dir / "mac.txt"; fs::exists(pm)) {
    const auto bytes = read_file_bytes(pm.string(), "a MAC spelling", 4096);
    s.mac.assign(bytes.begin(), bytes.end());
    while (!s.mac.empty() && (s.mac.back() == '\n' || s.mac.back() == '\r' || s.mac.back() == ' ')) s.mac.pop_back();
    if (s.mac.empty() || s.mac.find_first_of("\n\r\t ") != std::string::npos)
      fail(pm.string(), "one MAC spelling on one line", "\"" + s.mac + "\"");
  }
  if (s.d_fp32.empty() && s.d_fp16.empty())
    fail((dir / ("d_" + s.gpu + "_fp32.txt.gz")).string(), "the GPU's results (d_<GPU>_fp32 or d_<GPU>_fp16)", "neither");
  return s;
}

std::vector<std::string> tensor_core_sets(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) fail(root, "a directory of tensor-core data (<GPU>/<input>/...)", "no such directory");
  std::vector<std::string> out;
  for (const auto& gpu : fs::directory_iterator(root)) {
    if (!gpu.is_directory()) continue;
    for (const auto& input : fs::directory_iterator(gpu.path())) {
      if (!input.is_directory()) continue;
      const std::string g = gpu.path().filename().string(), in = input.path().filename().string();
      if (!find(input.path(), "a_" + g + "_" + in).empty()) out.push_back(g + "/" + in);
    }
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) fail(root, "tensor-core data sets (<GPU>/<input>/a_<GPU>_<input>.txt.gz)", "none");
  return out;
}

}  // namespace lpsim::data
