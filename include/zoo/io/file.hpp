// zoo/io/file.hpp — whole-file reads (plain or gzip) with hard size limits,
// and atomic writes (temporary file in the same directory, fsync, rename).
//
// Reads never trust a size a file claims: a plain file is sized by the file
// system, a gzip stream grows its buffer only as bytes really inflate, and both
// stop at `max_bytes`. Formats with a header that sizes the payload (IDX) use
// Inflater to inflate exactly that much and no further. gzip needs zlib: link ZLIB::ZLIB (find_package(ZLIB)).
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
#include <utility>
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

// Inflates a gzip (or zlib) stream held in memory a piece at a time, so that a
// reader which knows from a header how many bytes it needs asks for exactly
// those, then checks the stream ends there — a gzip bomb then costs what its
// header claims, not what it inflates to (see data/idx.hpp).
class Inflater {
 public:
  Inflater(std::span<const std::uint8_t> in, std::string name) : name_(std::move(name)), left_in_(in.size()) {
    if (inflateInit2(&zs_, 15 + 32) != Z_OK) throw IoError(name_, "zlib: inflateInit failed");
    zs_.next_in = const_cast<Bytef*>(in.data());
  }
  ~Inflater() { inflateEnd(&zs_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Writes up to `n` inflated bytes to `dst`; fewer only when the stream ends.
  // A truncated or corrupt stream throws.
  std::size_t read(std::uint8_t* dst, std::size_t n) {
    std::size_t got = 0;
    while (got < n && !done_) {
      if (zs_.avail_in == 0) {
        const std::size_t chunk = std::min<std::size_t>(left_in_, 1u << 30);
        zs_.avail_in = static_cast<uInt>(chunk);
        left_in_ -= chunk;
      }
      const std::size_t room = std::min<std::size_t>(n - got, 1u << 30);
      zs_.next_out = dst + got;
      zs_.avail_out = static_cast<uInt>(room);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      got += room - zs_.avail_out;
      if (rc == Z_STREAM_END) done_ = true;
      else if (rc == Z_BUF_ERROR && zs_.avail_in == 0 && left_in_ == 0)
        throw IoError(name_, "truncated gzip stream (ends after " + std::to_string(zs_.total_out) +
                                 " inflated bytes)");
      else if (rc != Z_OK && rc != Z_BUF_ERROR)
        throw IoError(name_, "corrupt gzip stream: " + (zs_.msg ? std::string(zs_.msg) : "error " + std::to_string(rc)));
    }
    return got;
  }
  // True once the stream's end (and its CRC, checked by zlib) has been read.
  bool finished() const { return done_; }
  // True when the stream holds no byte past what was read: reads one more.
  bool at_end() {
    std::uint8_t extra;
    return read(&extra, 1) == 0;
  }
  std::uint64_t total_out() const { return zs_.total_out; }

 private:
  z_stream zs_{};
  std::string name_;
  std::size_t left_in_;
  bool done_ = false;
};

// Inflates a whole gzip (or zlib) stream whose size nothing announces: the
// output grows only as data really inflates, and stops at `max_bytes`.
inline std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> in, const std::string& name,
                                        std::size_t max_bytes = default_max_bytes) {
  Inflater z(in, name);
  std::vector<std::uint8_t> out;
  std::size_t fill = 0;
  while (!z.finished()) {
    if (fill == out.size()) {
      if (out.size() >= max_bytes)
        throw IoError(name, "gzip data inflates past the limit of " + std::to_string(max_bytes) + " bytes");
      out.resize(std::min(max_bytes, std::max<std::size_t>(65536, out.size() * 2)));
    }
    fill += z.read(out.data() + fill, out.size() - fill);
  }
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
