// zoo/io/file.hpp — whole-file reads (plain or gzip) with hard size limits,
// and atomic writes (temporary file in the same directory, fsync, rename).
//
// Reads never trust a size a file claims: a plain file is sized by the file
// system, a gzip stream grows its buffer only as bytes really inflate, and both
// stop at `max_bytes`. gzip needs zlib: link ZLIB::ZLIB (find_package(ZLIB)).
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "error.hpp"

namespace zoo::io {

inline constexpr std::size_t default_max_bytes = std::size_t{4} << 30;  // 4 GiB

inline bool is_gzip(std::span<const std::uint8_t> b) {
  return b.size() >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

// Raw bytes of a file, exactly as stored.
inline std::vector<std::uint8_t> read_raw(const std::string& path,
                                          std::size_t max_bytes = default_max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw IoError(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fclose(f);
    throw IoError(path, "not a regular file");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_bytes) {
    std::fclose(f);
    throw IoError(path, "file is " + std::to_string(size) + " bytes, over the limit of " +
                            std::to_string(max_bytes));
  }
  std::vector<std::uint8_t> out(static_cast<std::size_t>(size));
  const std::size_t got = out.empty() ? 0 : std::fread(out.data(), 1, out.size(), f);
  std::fclose(f);
  if (got != out.size()) throw IoError(path, "short read");
  return out;
}

// Inflates a gzip (or zlib) stream; the output grows only as data inflates.
inline std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> in, const std::string& name,
                                        std::size_t max_bytes = default_max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw IoError(name, "zlib: inflateInit failed");
  std::vector<std::uint8_t> out;
  std::size_t fill = 0;
  zs.next_in = const_cast<Bytef*>(in.data());
  std::size_t left_in = in.size();
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (fill == out.size()) {
      if (out.size() >= max_bytes) {
        inflateEnd(&zs);
        throw IoError(name, "gzip data inflates past the limit of " + std::to_string(max_bytes) +
                                " bytes");
      }
      out.resize(std::min(max_bytes, std::max<std::size_t>(65536, out.size() * 2)));
    }
    if (zs.avail_in == 0) {
      const std::size_t chunk = std::min<std::size_t>(left_in, 1u << 30);
      zs.avail_in = static_cast<uInt>(chunk);
      left_in -= chunk;
    }
    const std::size_t room = std::min<std::size_t>(out.size() - fill, 1u << 30);
    zs.next_out = out.data() + fill;
    zs.avail_out = static_cast<uInt>(room);
    rc = inflate(&zs, Z_NO_FLUSH);
    fill += room - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && left_in == 0) {
      inflateEnd(&zs);
      throw IoError(name, "truncated gzip stream (ends after " + std::to_string(fill) +
                              " inflated bytes)");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      const std::string msg = zs.msg ? zs.msg : "error " + std::to_string(rc);
      inflateEnd(&zs);
      throw IoError(name, "corrupt gzip stream: " + msg);
    }
  }
  inflateEnd(&zs);
  out.resize(fill);
  return out;
}

// A file's content, inflated when it starts with the gzip magic.
inline std::vector<std::uint8_t> read_file(const std::string& path,
                                           std::size_t max_bytes = default_max_bytes) {
  auto raw = read_raw(path, max_bytes);
  if (is_gzip(raw)) return gunzip(raw, path, max_bytes);
  return raw;
}

inline std::vector<std::uint8_t> gzip(std::span<const std::uint8_t> in, const std::string& name,
                                      int level = 6) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw IoError(name, "zlib: deflateInit failed");
  std::vector<std::uint8_t> out(deflateBound(&zs, static_cast<uLong>(in.size())) + 64);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw IoError(name, "zlib: deflate failed");
  return out;
}

namespace detail {
inline void write_all(int fd, const std::uint8_t* p, std::size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, std::min<std::size_t>(n, 1u << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw IoError(path, std::string("write failed: ") + std::strerror(errno));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}
}  // namespace detail

// Writes `parts` one after the other to `path` so that a crash at any moment
// leaves either the old file or the complete new one: the bytes go to
// `path.tmp.<pid>` in the same directory (same file system, so rename is
// atomic), are fsync'ed, and only then renamed over `path`.
inline void write_atomic(const std::string& path,
                         std::span<const std::span<const std::uint8_t>> parts) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(tmp, std::string("cannot create: ") + std::strerror(errno));
  try {
    for (auto part : parts) detail::write_all(fd, part.data(), part.size(), tmp);
    if (::fsync(fd) != 0) throw IoError(tmp, std::string("fsync failed: ") + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw IoError(tmp, std::string("close failed: ") + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw IoError(path, std::string("rename failed: ") + std::strerror(e));
  }
  // The rename itself lives in the directory: sync it too so it survives power loss.
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

inline void write_atomic(const std::string& path, std::span<const std::uint8_t> bytes) {
  const std::span<const std::uint8_t> parts[1] = {bytes};
  write_atomic(path, parts);
}

}  // namespace zoo::io
