// zoo/data/idx.hpp — the IDX format of MNIST and Fashion-MNIST, raw or gzip.
//
//   bytes 0-1: 0x00 0x00 · byte 2: element type (0x08 = u8, …) · byte 3: rank
//   then `rank` big-endian u32 dimensions, then the elements, row-major.
//   images: 0x00000803, dims (N, rows, cols) · labels: 0x00000801, dims (N)
//
// Reading checks the magic, the rank, every dimension and their product
// against the real (inflated) length before touching the elements, and fails
// with an IoError naming the file and the fault. A raw file is read whole (its
// size is the file system's, not a claim). A gzip file is streamed: the header
// first, then exactly the payload it announces (at most `max_bytes`), and an
// error the moment the stream runs past it — so a stream that would inflate to
// gigabytes costs the header's claim in memory and stops in milliseconds.
// Gzip needs zlib: link ZLIB::ZLIB.
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

// The 4-byte magic and the dimensions, checked; `payload` is the byte count
// the dimensions claim (element size × their product, overflow-checked).
struct IdxHeader {
  IdxType type = IdxType::u8;
  std::vector<std::size_t> dims;
  std::size_t header_bytes = 0, payload = 0;
};

namespace detail {
[[noreturn]] inline void idx_fail(const std::string& name, const std::string& what) {
  throw IoError(name, "IDX: " + what);
}
// The magic of `p[0..4)`; returns the rank. `n` is how many bytes there are.
inline std::uint8_t idx_magic(const std::uint8_t* p, std::size_t n, const std::string& name) {
  if (n < 4) idx_fail(name, "file is " + std::to_string(n) + " bytes, shorter than the 4-byte magic");
  if (p[0] != 0 || p[1] != 0) idx_fail(name, "bad magic: the first two bytes must be zero (is this an IDX file?)");
  if (idx_type_size(p[2]) == 0) idx_fail(name, "unknown element type " + hex_byte(p[2]));
  if (p[3] == 0 || p[3] > 8) idx_fail(name, "rank " + std::to_string(p[3]) + " is not in 1..8");
  return p[3];
}
// The whole header in `p[0..n)`, n ≥ 4 + 4·rank; `limit` bounds the payload.
inline IdxHeader idx_header(const std::uint8_t* p, std::size_t n, const std::string& name,
                            std::size_t limit = SIZE_MAX) {
  const std::uint8_t rank = idx_magic(p, n, name);
  IdxHeader h;
  h.type = static_cast<IdxType>(p[2]);
  h.header_bytes = 4 + 4 * std::size_t{rank};
  if (n < h.header_bytes)
    idx_fail(name, "truncated header: " + std::to_string(rank) + " dimensions need " +
                       std::to_string(h.header_bytes) + " bytes, the file has " + std::to_string(n));
  std::size_t total = idx_type_size(p[2]);  // saturates rather than wraps
  bool overflow = false;
  for (std::size_t i = 0; i < rank; ++i) {
    const std::uint8_t* d4 = p + 4 + 4 * i;
    const std::size_t d = (std::size_t{d4[0]} << 24) | (std::size_t{d4[1]} << 16) | (std::size_t{d4[2]} << 8) | d4[3];
    h.dims.push_back(d);
    if (d != 0 && total > SIZE_MAX / d) overflow = true;
    else total *= d;
  }
  if (overflow) {
    bool zero = false;
    for (auto d : h.dims) zero |= d == 0;
    if (!zero) idx_fail(name, "dimensions claim more data than any file holds (their product overflows 64 bits)");
    total = 0;
  }
  if (total > limit)
    idx_fail(name, "dimensions claim " + std::to_string(total) + " data bytes, over the limit of " +
                       std::to_string(limit));
  h.payload = total;
  return h;
}
}  // namespace detail

// Parses an IDX image held in memory; `name` is used in error messages.
inline IdxArray parse_idx(std::vector<std::uint8_t> buf, const std::string& name) {
  const IdxHeader h = detail::idx_header(buf.data(), buf.size(), name);
  const std::size_t have = buf.size() - h.header_bytes;
  if (h.payload != have)
    detail::idx_fail(name, h.payload < have ? "file has " + std::to_string(have - h.payload) +
                                                  " bytes after the last element (wrong dimensions?)"
                                            : "truncated: dimensions need " + std::to_string(h.payload) +
                                                  " data bytes, the file has " + std::to_string(have));
  IdxArray a;
  a.type = h.type;
  a.dims = h.dims;
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(h.header_bytes));
  a.bytes = std::move(buf);
  return a;
}

// Parses a gzip-compressed IDX image held in memory, streaming: the header is
// inflated first, then exactly the payload it announces, and the stream must
// end there. Memory is at most the payload (itself at most `max_bytes`) and
// twice what really inflated, whatever the stream would inflate to.
inline IdxArray parse_idx_gz(std::span<const std::uint8_t> gz, const std::string& name,
                             std::size_t max_bytes = SIZE_MAX) {
  io::Inflater z(gz, name);
  std::uint8_t head[4 + 4 * 8];
  std::size_t got = z.read(head, 4);
  const std::uint8_t rank = detail::idx_magic(head, got, name);
  got += z.read(head + 4, 4 * std::size_t{rank});
  const IdxHeader h = detail::idx_header(head, got, name, max_bytes);
  IdxArray a;
  a.type = h.type;
  a.dims = h.dims;
  // Grown as bytes arrive, so a short stream that claims a large array costs
  // what it holds, not what it claims.
  std::size_t fill = 0;
  while (fill < h.payload) {
    if (fill == a.bytes.size())
      a.bytes.resize(std::min(h.payload, std::max<std::size_t>(std::size_t{1} << 16, 2 * a.bytes.size())));
    const std::size_t want = a.bytes.size() - fill, n = z.read(a.bytes.data() + fill, want);
    fill += n;
    if (n < want)
      detail::idx_fail(name, "truncated: dimensions need " + std::to_string(h.payload) +
                                 " data bytes, the stream holds " + std::to_string(fill));
  }
  if (!z.at_end())
    detail::idx_fail(name, "the gzip stream inflates past the " + std::to_string(h.header_bytes + h.payload) +
                               " bytes its header announces (wrong dimensions, or a gzip bomb); stopped there");
  return a;
}

// 1 GiB: the largest IDX files in use (EMNIST) are a few hundred MB inflated.
inline constexpr std::size_t idx_max_bytes = std::size_t{1} << 30;

inline IdxArray read_idx(const std::string& path, std::size_t max_bytes = idx_max_bytes) {
  auto raw = io::read_raw(path, max_bytes);
  if (io::is_gzip(raw)) return parse_idx_gz(raw, path, max_bytes);
  return parse_idx(std::move(raw), path);
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
