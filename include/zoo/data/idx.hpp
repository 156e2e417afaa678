// zoo/data/idx.hpp — the IDX format of MNIST and Fashion-MNIST, raw or gzip.
//
//   bytes 0-1: 0x00 0x00 · byte 2: element type (0x08 = u8, …) · byte 3: rank
//   then `rank` big-endian u32 dimensions, then the elements, row-major.
//   images: 0x00000803, dims (N, rows, cols) · labels: 0x00000801, dims (N)
//
// Reading checks the magic, the rank, every dimension and their product
// against the real (inflated) length before touching the elements, and fails
// with an IoError naming the file and the fault. Nothing is allocated from a
// size the file claims: the buffer is the file itself. Gzip needs zlib: link
// ZLIB::ZLIB.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <stdexcept>
#include <span>
#include <string>
#include <vector>

#include "../io/error.hpp"
#include "../io/file.hpp"

namespace zoo::data {

namespace detail {
inline std::string hex_byte(std::uint8_t b) {
  char s[8];
  std::snprintf(s, sizeof s, "0x%02x", b);
  return s;
}
}  // namespace detail

enum class IdxType : std::uint8_t { u8 = 0x08, i8 = 0x09, i16 = 0x0B, i32 = 0x0C, f32 = 0x0D, f64 = 0x0E };

inline std::size_t idx_type_size(std::uint8_t t) {
  switch (t) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
  }
}

// One IDX array: dims and the elements' bytes (big-endian as stored).
struct IdxArray {
  IdxType type = IdxType::u8;
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> bytes;
  std::size_t count() const {
    std::size_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
};

// Parses an IDX image held in memory; `name` is used in error messages.
inline IdxArray parse_idx(std::vector<std::uint8_t> buf, const std::string& name) {
  auto fail = [&](const std::string& what) -> IoError { return IoError(name, "IDX: " + what); };
  if (buf.size() < 4)
    throw fail("file is " + std::to_string(buf.size()) + " bytes, shorter than the 4-byte magic");
  if (buf[0] != 0 || buf[1] != 0)
    throw fail("bad magic: the first two bytes must be zero (is this an IDX file?)");
  const std::uint8_t type = buf[2], rank = buf[3];
  const std::size_t esize = idx_type_size(type);
  if (esize == 0) throw fail("unknown element type " + detail::hex_byte(type));
  if (rank == 0 || rank > 8) throw fail("rank " + std::to_string(rank) + " is not in 1..8");
  const std::size_t header = 4 + 4 * std::size_t{rank};
  if (buf.size() < header)
    throw fail("truncated header: " + std::to_string(rank) + " dimensions need " +
               std::to_string(header) + " bytes, the file has " + std::to_string(buf.size()));
  IdxArray a;
  a.type = static_cast<IdxType>(type);
  const std::size_t payload = buf.size() - header;
  std::size_t total = esize;  // bytes claimed; saturates rather than wraps
  bool overflow = false;
  for (std::size_t i = 0; i < rank; ++i) {
    const std::uint8_t* p = buf.data() + 4 + 4 * i;
    const std::size_t d = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) |
                          (std::size_t{p[2]} << 8) | p[3];
    a.dims.push_back(d);
    if (d != 0 && total > SIZE_MAX / d) overflow = true;
    else total *= d;
  }
  if (overflow && total != 0)
    throw fail("dimensions claim more data than the file holds (their product overflows 64 bits; " +
               std::to_string(payload) + " data bytes)");
  if (total != payload)
    throw fail(total < payload ? "file has " + std::to_string(payload - total) +
                                     " bytes after the last element (wrong dimensions?)"
                               : "truncated: dimensions need " + std::to_string(total) +
                                     " data bytes, the file has " + std::to_string(payload));
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(header));
  a.bytes = std::move(buf);
  return a;
}

// 1 GiB: the largest IDX files in use (EMNIST) are a few hundred MB inflated.
inline constexpr std::size_t idx_max_bytes = std::size_t{1} << 30;

inline IdxArray read_idx(const std::string& path, std::size_t max_bytes = idx_max_bytes) {
  return parse_idx(io::read_file(path, max_bytes), path);
}

// Images: (N, rows, cols) bytes.
struct IdxImages {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // (N, rows, cols)
};

inline IdxImages idx_images(IdxArray a, const std::string& name) {
  if (a.type != IdxType::u8 || a.dims.size() != 3)
    throw IoError(name, "IDX: expected images (magic 0x00000803: u8, 3 dimensions), got type " +
                            detail::hex_byte(static_cast<std::uint8_t>(a.type)) + " with " +
                            std::to_string(a.dims.size()) + " dimensions");
  if (a.dims[1] == 0 || a.dims[2] == 0)
    throw IoError(name, "IDX: images have a zero dimension (" + std::to_string(a.dims[1]) + "x" +
                            std::to_string(a.dims[2]) + ")");
  return {a.dims[0], a.dims[1], a.dims[2], std::move(a.bytes)};
}
inline std::vector<std::uint8_t> idx_labels(IdxArray a, const std::string& name) {
  if (a.type != IdxType::u8 || a.dims.size() != 1)
    throw IoError(name, "IDX: expected labels (magic 0x00000801: u8, 1 dimension), got type " +
                            detail::hex_byte(static_cast<std::uint8_t>(a.type)) + " with " +
                            std::to_string(a.dims.size()) + " dimensions");
  return std::move(a.bytes);
}

inline IdxImages read_idx_images(const std::string& path) {
  return idx_images(read_idx(path), path);
}
inline std::vector<std::uint8_t> read_idx_labels(const std::string& path) {
  return idx_labels(read_idx(path), path);
}

// Serializes u8 data of the given dims; `data.size()` must equal their product.
inline std::vector<std::uint8_t> encode_idx_u8(std::span<const std::size_t> dims,
                                               std::span<const std::uint8_t> data) {
  std::size_t n = 1;
  for (auto d : dims) {
    if (d > 0xffffffffu) throw std::invalid_argument("zoo::data::encode_idx_u8: dimension over 2^32");
    n *= d;
  }
  if (dims.empty() || dims.size() > 8 || n != data.size())
    throw std::invalid_argument("zoo::data::encode_idx_u8: " + std::to_string(data.size()) +
                                " bytes do not match the dimensions");
  std::vector<std::uint8_t> out{0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(d >> s));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// Writes an IDX u8 file atomically, gzip-compressed when `path` ends in ".gz".
inline void write_idx_u8(const std::string& path, std::span<const std::size_t> dims,
                         std::span<const std::uint8_t> data) {
  auto bytes = encode_idx_u8(dims, data);
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) bytes = io::gzip(bytes, path);
  io::write_atomic(path, bytes);
}
inline void write_idx_images(const std::string& path, const IdxImages& im) {
  const std::size_t dims[3] = {im.count, im.rows, im.cols};
  write_idx_u8(path, dims, im.pixels);
}
inline void write_idx_labels(const std::string& path, std::span<const std::uint8_t> labels) {
  const std::size_t dims[1] = {labels.size()};
  write_idx_u8(path, dims, labels);
}

}  // namespace zoo::data
