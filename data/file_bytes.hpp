// Whole-file reads that decompress gzip when the file starts with the gzip
// magic (1f 8b), so every reader takes "x" and "x.gz" alike.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lpsim::data {

// `what` describes the expected content ("an IDX file") for the error raised
// when the file is missing, unreadable, or a truncated/corrupt gzip stream.
std::vector<std::uint8_t> read_file_bytes(const std::string& path, const std::string& what);

}  // namespace lpsim::data
