#include "experiments/sweep_grid.hpp"

#include <set>
#include <stdexcept>

namespace lpsim::cli {

GridAxis parse_axis(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw std::invalid_argument("--grid \"" + text + "\" is not key=v1,v2,...");
  GridAxis a{text.substr(0, eq), {}};
  std::set<std::string> seen;
  std::string rest = text.substr(eq + 1);
  // Values that hold commas themselves (MAC spellings, lists) are separated by ';'.
  const char sep = rest.find(';') == std::string::npos ? ',' : ';';
  for (std::size_t start = 0;;) {
    const auto comma = rest.find(sep, start);
    const std::string v = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (v.empty()) throw std::invalid_argument("--grid \"" + text + "\" has an empty value");
    if (!seen.insert(v).second) throw std::invalid_argument("--grid \"" + text + "\" repeats the value \"" + v + "\"");
    a.values.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return a;
}

std::vector<GridPoint> grid_points(const std::vector<GridAxis>& axes) {
  std::vector<GridPoint> points = {{}};
  for (const GridAxis& a : axes) {
    std::vector<GridPoint> next;
    for (const GridPoint& p : points)
      for (const std::string& v : a.values) {
        GridPoint q = p;
        q.emplace_back(a.key, v);
        next.push_back(std::move(q));
      }
    points = std::move(next);
  }
  return points;
}

std::string point_name(const GridPoint& p) {
  std::string out;
  for (const auto& [k, v] : p) {
    if (!out.empty()) out += ',';
    for (char ch : k + "=" + v) {
      if (ch == '%') out += "%25";
      else if (ch == '/') out += "%2F";
      else out += ch;
    }
  }
  return out;
}

std::pair<int, int> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  int i = -1, n = -1;
  try {
    std::size_t u1 = 0, u2 = 0;
    i = std::stoi(text.substr(0, slash), &u1);
    n = std::stoi(text.substr(slash + 1), &u2);
    if (slash == std::string::npos || u1 != slash || u2 != text.size() - slash - 1) i = -1;
  } catch (const std::exception&) {
    i = -1;
  }
  if (i < 0 || n < 1 || i >= n) throw std::invalid_argument("--shard \"" + text + "\" is not i/n with 0 <= i < n");
  return {i, n};
}

int parse_jobs(const std::string& text) {
  constexpr int kMax = 1024;
  int n = 0;
  const bool digits = !text.empty() && text.size() <= 4 && text.find_first_not_of("0123456789") == std::string::npos;
  if (digits) n = std::stoi(text);
  if (!digits || n < 1 || n > kMax)
    throw std::invalid_argument("--jobs \"" + text + "\" is not a number of worker processes (a whole number from 1 to " +
                                std::to_string(kMax) + ")");
  return n;
}

}  // namespace lpsim::cli
