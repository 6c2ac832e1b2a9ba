#include "experiments/config_toml.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "arith/arith.hpp"
#include "nn/optim.hpp"
#include "nn/quantizer.hpp"
#include "sim/mac_config.hpp"

namespace lpsim::cli {

namespace {

using Opt = std::optional<std::string> nn::LayerOverride::*;

// The keys of a [[layers]] table besides `match`.
struct LayerKey {
  const char* name;
  std::vector<Opt> members;
  Check check;
};

const std::vector<LayerKey>& layer_keys() {
  using L = nn::LayerOverride;
  static const std::vector<LayerKey> table = {
      {"w", {&L::w}, Check::Quant},
      {"a", {&L::a}, Check::Quant},
      {"e", {&L::e}, Check::Quant},
      {"g", {&L::g}, Check::Quant},
      {"w_round", {&L::w_round}, Check::Rounding},
      {"a_round", {&L::a_round}, Check::Rounding},
      {"e_round", {&L::e_round}, Check::Rounding},
      {"g_round", {&L::g_round}, Check::Rounding},
      {"round", {&L::w_round, &L::a_round, &L::e_round, &L::g_round}, Check::Rounding},
      {"mac", {&L::mac_fwd, &L::mac_bwd_data, &L::mac_bwd_weight}, Check::Mac},
      {"mac_fwd", {&L::mac_fwd}, Check::Mac},
      {"mac_bwd_data", {&L::mac_bwd_data}, Check::Mac},
      {"mac_bwd_weight", {&L::mac_bwd_weight}, Check::Mac},
  };
  return table;
}

std::string where_of(const toml::source_region& s) {
  std::ostringstream w;  // (not string concatenation: GCC 12 -Wrestrict false positive)
  w << (s.path ? *s.path : std::string("<override>"));
  if (s.begin.line) w << ':' << s.begin.line << ':' << s.begin.column;
  return w.str();
}

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw std::invalid_argument(where + ": " + what);
}

constexpr std::size_t kMaxConfigBytes = std::size_t(1) << 24;

// Offset of the first byte that does not continue a well-formed UTF-8 sequence
// (no overlongs, surrogates or code points past U+10FFFF).
std::optional<std::size_t> first_invalid_utf8(const std::string& s) {
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0, n = s.size(); i < n;) {
    const unsigned c = b[i];
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c < 0x80) len = 1;
    else if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return i;
    if (i + len > n) return i;
    for (std::size_t k = 1; k < len; ++k)
      if (b[i + k] < (k == 1 ? lo : 0x80) || b[i + k] > (k == 1 ? hi : 0xBF)) return i;
    i += len;
  }
  return std::nullopt;
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

void check_string(Check check, const std::string& key, const std::string& v, const std::string& where) {
  if (first_invalid_utf8(v)) fail(where, key + " is not UTF-8 text");
  if (v.find('\0') != std::string::npos) fail(where, key + " contains a NUL character");
  try {
    if (check == Check::Quant && !v.empty() && v != "fp32") nn::parse_quant(v, "rne");
    if (check == Check::Master && !v.empty() && v != "fp32") nn::parse_master(v, "rne");
    if (check == Check::Rounding) arith::parse_rounding(v);
    if (check == Check::Mac) sim::parse_mac(v);
  } catch (const std::exception& e) {
    fail(where, key + ": " + e.what());
  }
}

// Numbers are finite and inside the key's range.
void check_range(const Key& k, double v, const std::string& where) {
  if (!std::isfinite(v)) fail(where, std::string(k.path) + " must be a finite number, got " + (std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"));
  if (!k.range.contains(v)) {
    std::ostringstream t;
    if (v == std::floor(v) && std::fabs(v) < 1e15) t << std::int64_t(v);
    else t << v;
    fail(where, std::string(k.path) + " must be in " + k.range.text() + ", got " + t.str());
  }
}

std::int64_t integer_of(const toml::node& n, const std::string& key, const std::string& where) {
  if (auto v = n.as_integer()) return v->get();
  fail(where, key + " must be an integer, got " + type_name(n));
}

void set_from_node(RunConfig& c, const Key& k, const toml::node& n, const std::string& where) {
  const std::string key = k.path;
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          const auto* s = n.as_string();
          if (!s) fail(where, key + " must be a string, got " + type_name(n));
          check_string(k.check, key, s->get(), where);
          *p = s->get();
        } else if constexpr (std::is_same_v<T, bool>) {
          const auto* b = n.as_boolean();
          if (!b) fail(where, key + " must be true or false, got " + type_name(n));
          *p = b->get();
        } else if constexpr (std::is_same_v<T, double>) {
          if (const auto* f = n.as_floating_point()) *p = f->get();
          else if (const auto* i = n.as_integer()) *p = double(i->get());
          else fail(where, key + " must be a number, got " + type_name(n));
          check_range(k, *p, where);
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
          const auto* a = n.as_array();
          if (!a) fail(where, key + " must be an array of numbers, got " + type_name(n));
          std::vector<double> v;
          for (const toml::node& e : *a) {
            if (const auto* f = e.as_floating_point()) v.push_back(f->get());
            else if (const auto* i = e.as_integer()) v.push_back(double(i->get()));
            else fail(where, key + " must be an array of numbers, got an element that is " + type_name(e));
            check_range(k, v.back(), where);
          }
          *p = v;
        } else if constexpr (std::is_same_v<T, std::vector<int>>) {
          const auto* a = n.as_array();
          if (!a) fail(where, key + " must be an array of integers, got " + type_name(n));
          std::vector<int> v;
          for (const toml::node& e : *a) {
            const auto* i = e.as_integer();
            if (!i) fail(where, key + " must be an array of integers, got an element that is " + type_name(e));
            if (i->get() < 1 || i->get() > 64) fail(where, key + " elements must be in 1..64, got " + std::to_string(i->get()));
            v.push_back(int(i->get()));
          }
          *p = v;
        } else {  // integers
          const std::int64_t v = integer_of(n, key, where);
          if (v < 0) fail(where, key + " must be >= 0, got " + std::to_string(v));
          if (v == 0 && k.check == Check::Positive) fail(where, key + " must be >= 1, got 0");
          if constexpr (std::is_same_v<T, int>)
            if (v > std::numeric_limits<int>::max()) fail(where, key + " is too large: " + std::to_string(v));
          check_range(k, double(v), where);
          *p = T(v);
        }
      },
      k.ref(c));
}

const KeyAlias* find_alias(const std::string& path) {
  for (const KeyAlias& a : key_aliases())
    if (path == a.path) return &a;
  return nullptr;
}

std::string known_under(const std::string& prefix) {
  std::string out;
  for (const Key& k : keys()) {
    const std::string p = k.path;
    if (p.rfind(prefix, 0) == 0) out += (out.empty() ? "" : ", ") + p;
  }
  for (const KeyAlias& a : key_aliases()) {
    const std::string p = a.path;
    if (p.rfind(prefix, 0) == 0) out += (out.empty() ? "" : ", ") + p;
  }
  return out;
}

bool is_section(const std::string& path) {
  const std::string prefix = path + ".";
  for (const Key& k : keys())
    if (std::string(k.path).rfind(prefix, 0) == 0) return true;
  return false;
}

void set_path(RunConfig& c, const std::string& path, const toml::node& n, const std::string& where) {
  if (const Key* k = find_key(path)) return set_from_node(c, *k, n, where);
  if (const KeyAlias* a = find_alias(path)) {
    for (const char* t : a->targets) set_from_node(c, *find_key(t), n, where);
    return;
  }
  if (const char* why = retired_key(path)) fail(where, why);
  const auto dot = path.rfind('.');
  const std::string section = dot == std::string::npos ? "" : path.substr(0, dot + 1);
  fail(where, "unknown key \"" + path + "\"" + (section.empty() ? "" : " (keys of " + section.substr(0, dot) + ": " + known_under(section) + ")"));
}

nn::LayerOverride read_layer(const toml::table& t, std::size_t index, const std::string& where_table) {
  nn::LayerOverride o;
  bool has_match = false;
  for (auto&& [k, v] : t) {
    const std::string name(k.str());
    const std::string where = where_of(k.source());
    const auto* s = v.as_string();
    if (name == "match") {
      if (!s) fail(where, "layers[" + std::to_string(index) + "].match must be a string, got " + type_name(v));
      o.match = s->get();
      has_match = true;
      continue;
    }
    const LayerKey* lk = nullptr;
    for (const LayerKey& c : layer_keys())
      if (name == c.name) lk = &c;
    if (!lk) {
      std::string names = "match";
      for (const LayerKey& c : layer_keys()) names += std::string(", ") + c.name;
      fail(where, "unknown key \"" + name + "\" in layers[" + std::to_string(index) + "] (" + names + ")");
    }
    const std::string key = "layers[" + std::to_string(index) + "]." + name;
    if (!s) fail(where, key + " must be a string, got " + type_name(v));
    check_string(lk->check, key, s->get(), where);
    for (Opt m : lk->members) o.*m = s->get();
  }
  if (!has_match) fail(where_table, "layers[" + std::to_string(index) + "] needs a match = \"<layer name or glob>\"");
  return o;
}

void walk(RunConfig& c, const toml::table& t, const std::string& prefix) {
  for (auto&& [k, v] : t) {
    const std::string path = prefix + std::string(k.str());
    const std::string where = where_of(k.source());
    if (path == "layers") {
      const auto* arr = v.as_array();
      if (!arr) fail(where, "layers must be an array of tables ([[layers]]), got " + type_name(v));
      for (const toml::node& e : *arr) {
        const auto* lt = e.as_table();
        if (!lt) fail(where_of(e.source()), "each [[layers]] entry must be a table, got " + type_name(e));
        c.train.layers.push_back(read_layer(*lt, c.train.layers.size(), where_of(e.source())));
        c.train.layers.back().origin = where_of(e.source());
      }
    } else if (v.is_table() && is_section(path)) {
      walk(c, *v.as_table(), path + ".");
    } else {
      set_path(c, path, v, where);
    }
  }
}

}  // namespace

void load_config_file(const std::string& path, RunConfig& cfg) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw std::invalid_argument("config file \"" + path + "\" is a directory (a config is a TOML file; overrides are key=value)");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::invalid_argument("config file \"" + path + "\" cannot be read (overrides are key=value)");
  std::string text;
  char buf[1 << 16];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    text.append(buf, std::size_t(f.gcount()));
    if (text.size() > kMaxConfigBytes)
      throw std::invalid_argument("config file \"" + path + "\" is larger than " + std::to_string(kMaxConfigBytes) +
                                  " bytes: not a config");
  }
  if (f.bad()) throw std::invalid_argument("config file \"" + path + "\": read error");
  load_config_text(text, path, cfg);
}

void load_config_text(const std::string& text, const std::string& source, RunConfig& cfg) {
  // Stored configs must parse again on --resume: text that is not UTF-8
  // (which TOML requires) is refused here rather than at the resume.
  if (const auto bad = first_invalid_utf8(text)) {
    const std::size_t line = 1 + std::size_t(std::count(text.begin(), text.begin() + std::ptrdiff_t(*bad), '\n'));
    const std::size_t nl = *bad == 0 ? std::string::npos : text.rfind('\n', *bad - 1);
    const std::size_t col = *bad - (nl == std::string::npos ? 0 : nl + 1) + 1;
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[*bad]));
    fail(source + ":" + std::to_string(line) + ":" + std::to_string(col),
         std::string("byte ") + byte + " is not UTF-8 text (TOML files are UTF-8)");
  }
  toml::table t;
  try {
    t = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw std::invalid_argument(where_of(e.source()) + ": " + std::string(e.description()));
  }
  walk(cfg, t, "");
}

void set_key_text(RunConfig& cfg, const std::string& key, const std::string& text, const std::string& where) {
  const Key* k = find_key(key);
  const KeyAlias* a = k ? nullptr : find_alias(key);
  if (!k && !a) {
    if (key == "layers" || key.rfind("layers.", 0) == 0 || key.rfind("layers[", 0) == 0)
      fail(where, "per-layer formats are set in a config file's [[layers]] tables, not by override");
    if (const char* why = retired_key(key)) fail(where, why);
    const auto dot = key.rfind('.');
    fail(where, "unknown key \"" + key + "\"" +
                    (dot == std::string::npos ? "" : " (keys of " + key.substr(0, dot) + ": " + known_under(key.substr(0, dot + 1)) + ")"));
  }
  const Key& first = k ? *k : *find_key(a->targets.front());
  // Strings go as written (quotes optional); everything else reads as a TOML value.
  toml::table parsed;
  if (std::holds_alternative<std::string*>(first.ref(cfg))) {
    std::string s = text;
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    parsed.insert("v", s);
  } else {
    try {
      parsed = toml::parse("v = " + text);
    } catch (const toml::parse_error&) {
      bool ok = false;
      if (std::holds_alternative<std::vector<double>*>(first.ref(cfg)) ||
          std::holds_alternative<std::vector<int>*>(first.ref(cfg))) {
        try {
          parsed = toml::parse("v = [" + text + "]");
          ok = true;
        } catch (const toml::parse_error&) {
        }
      }
      if (!ok) parsed.insert("v", text);  // reported below as a string where a number or boolean belongs
    }
  }
  const toml::node& n = *parsed.get("v");
  if (k) set_from_node(cfg, *k, n, where);
  else
    for (const char* t : a->targets) set_from_node(cfg, *find_key(t), n, where);
}

void apply_override(const std::string& assignment, RunConfig& cfg) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument("override \"" + assignment + "\" is not key=value");
  set_key_text(cfg, assignment.substr(0, eq), assignment.substr(eq + 1), "override \"" + assignment + "\"");
}

namespace {

// Printing is ours rather than toml++'s formatter: keys in the table's order,
// and numbers in their shortest exact form (0.1, not 0.10000000000000001).
std::string toml_quoted(const std::string& v) {
  std::string out = "\"";
  for (unsigned char ch : v) {
    if (ch == '"' || ch == '\\') out += '\\', out += char(ch);
    else if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (ch < 0x20 || ch == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else out += char(ch);
  }
  return out + "\"";
}

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";  // stays a TOML float
  return s;
}

std::string value_text(ValueRef ref) {
  return std::visit(
      [](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) return toml_quoted(*p);
        else if constexpr (std::is_same_v<T, bool>) return *p ? "true" : "false";
        else if constexpr (std::is_same_v<T, double>) return number(*p);
        else if constexpr (std::is_same_v<T, std::vector<double>>) {
          std::string out = "[";
          for (std::size_t i = 0; i < p->size(); ++i) out += (i ? ", " : "") + number((*p)[i]);
          return out + "]";
        } else if constexpr (std::is_same_v<T, std::vector<int>>) {
          std::string out = "[";
          for (std::size_t i = 0; i < p->size(); ++i) out += (i ? ", " : "") + std::to_string((*p)[i]);
          return out + "]";
        } else return std::to_string(*p);
      },
      ref);
}

}  // namespace

std::string key_text(RunConfig& cfg, const std::string& key) {
  const Key* k = find_key(key);
  if (!k) throw std::invalid_argument("unknown key \"" + key + "\"");
  const ValueRef ref = k->ref(cfg);
  if (auto* const* s = std::get_if<std::string*>(&ref)) return **s;
  return value_text(ref);
}

std::string to_toml(const RunConfig& cfg_in) {
  RunConfig cfg = cfg_in;
  // Top-level keys first (TOML puts them before any [section]), then each
  // section in the order its first key appears in the table.
  std::string top, sections;
  std::vector<std::string> order;
  for (const Key& k : keys()) {
    const std::string p = k.path;
    const auto dot = p.find('.');
    if (dot == std::string::npos) top += p + " = " + value_text(k.ref(cfg)) + "\n";
    else if (std::find(order.begin(), order.end(), p.substr(0, dot)) == order.end()) order.push_back(p.substr(0, dot));
  }
  for (const std::string& sec : order) {
    sections += "\n[" + sec + "]\n";
    for (const Key& k : keys()) {
      const std::string p = k.path;
      if (p.rfind(sec + ".", 0) == 0) sections += p.substr(sec.size() + 1) + " = " + value_text(k.ref(cfg)) + "\n";
    }
  }
  for (const nn::LayerOverride& o : cfg.train.layers) {
    sections += "\n[[layers]]\nmatch = " + toml_quoted(o.match) + "\n";
    for (const LayerKey& lk : layer_keys()) {
      if (lk.members.size() != 1) continue;  // `round` and `mac` are aliases of several
      if (const auto& v = o.*lk.members.front()) sections += std::string(lk.name) + " = " + toml_quoted(*v) + "\n";
    }
  }
  return top + sections;
}

}  // namespace lpsim::cli
