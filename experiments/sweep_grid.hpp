// A sweep's grid: the Cartesian product of `key=v1,v2,...` axes, points in
// row-major order (the last axis varies fastest), each named by its
// assignment so that shards and reruns agree on the run groups.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace lpsim::cli {

struct GridAxis {
  std::string key;
  std::vector<std::string> values;
};

// Parses "key=v1,v2", or "key=v1;v2" when values hold commas (a MAC
// spelling "a=int4,acc=int12"); throws std::invalid_argument quoting a
// malformed axis.
GridAxis parse_axis(const std::string& text);

using GridPoint = std::vector<std::pair<std::string, std::string>>;  // key, value

std::vector<GridPoint> grid_points(const std::vector<GridAxis>& axes);

// "key=value,key=value" with '%' and '/' percent-escaped (an HDF5 name
// cannot hold '/'): the run's group name.
std::string point_name(const GridPoint& p);

// Parses "i/n" (0 <= i < n); throws std::invalid_argument.
std::pair<int, int> parse_shard(const std::string& text);

// Parses --jobs: a whole number of worker processes, 1 to 1024; throws
// std::invalid_argument naming --jobs.
int parse_jobs(const std::string& text);

}  // namespace lpsim::cli
