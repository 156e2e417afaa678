// IDX reader/writer: round trips (raw and gzip) and a corpus of broken files,
// each of which must give an IoError naming the file and the fault.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "zoo/data/idx.hpp"

namespace fs = std::filesystem;
using namespace zoo;

namespace {
std::string tmpdir() {
  auto d = fs::temp_directory_path() / ("zoo_test_idx_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d.string();
}
void put(const std::string& path, const std::vector<std::uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                              static_cast<std::streamsize>(b.size()));
}
std::vector<std::uint8_t> header(std::uint8_t type, std::vector<std::uint32_t> dims) {
  std::vector<std::uint8_t> h{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<std::uint8_t>(d >> s));
  return h;
}
// Expects reading `bytes` (saved as `name`) to fail with a message containing `what`.
void expect_error(const std::string& dir, const std::string& name,
                  const std::vector<std::uint8_t>& bytes, const std::string& what,
                  bool images = true) {
  const std::string path = dir + "/" + name;
  put(path, bytes);
  std::string msg;
  try {
    if (images) (void)data::read_idx_images(path);
    else (void)data::read_idx_labels(path);
  } catch (const IoError& e) {
    msg = e.what();
  }
  INFO(name << " -> " << msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find(what) != std::string::npos);
}
}  // namespace

TEST_CASE("IDX images and labels round-trip, raw and gzip") {
  const auto dir = tmpdir();
  data::IdxImages im{5, 28, 28, {}};
  im.pixels.resize(5 * 28 * 28);
  for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<std::uint8_t>(i * 7 + 3);
  const std::vector<std::uint8_t> labels{3, 1, 4, 1, 5};
  for (std::string ext : {"", ".gz"}) {
    data::write_idx_images(dir + "/im" + ext, im);
    data::write_idx_labels(dir + "/lb" + ext, labels);
    const auto r = data::read_idx_images(dir + "/im" + ext);
    CHECK(r.count == 5);
    CHECK(r.rows == 28);
    CHECK(r.cols == 28);
    CHECK(r.pixels == im.pixels);
    CHECK(data::read_idx_labels(dir + "/lb" + ext) == labels);
  }
  // The .gz file really is compressed, and the raw one is header + pixels.
  CHECK(fs::file_size(dir + "/im") == 16 + 5 * 28 * 28);
  auto raw = io::read_raw(dir + "/im.gz");
  CHECK(io::is_gzip(raw));
  fs::remove_all(dir);
}

TEST_CASE("IDX: a corpus of broken files each gives its clear error") {
  const auto dir = tmpdir();
  auto good = header(0x08, {2, 3, 3});
  good.resize(good.size() + 18, 7);

  expect_error(dir, "empty", {}, "shorter than the 4-byte magic");
  expect_error(dir, "magic", {0x1f, 0x00, 0x08, 0x03, 0, 0, 0, 0}, "bad magic");
  expect_error(dir, "type", header(0x42, {1}), "unknown element type 0x42");
  expect_error(dir, "rank0", header(0x08, {}), "rank 0");
  {
    auto h = header(0x08, {1});
    h[3] = 200;
    expect_error(dir, "rank200", h, "rank 200");
  }
  {
    auto h = header(0x08, {2, 3, 3});
    h.resize(10);
    expect_error(dir, "header_cut", h, "truncated header");
  }
  {
    auto t = good;
    t.resize(t.size() - 5);
    expect_error(dir, "truncated", t, "truncated: dimensions need 18 data bytes, the file has 13");
  }
  {
    auto t = good;
    t.push_back(1);
    expect_error(dir, "trailing", t, "1 bytes after the last element");
  }
  {
    // 4e9 x 4e9 x 4e9 images: the product overflows 64 bits; must be caught per factor.
    auto h = header(0x08, {0xfffffff0u, 0xfffffff0u, 0xfffffff0u});
    h.resize(h.size() + 64, 1);
    expect_error(dir, "huge_count", h, "product overflows 64 bits");
  }
  expect_error(dir, "labels_as_images", [] {
    auto h = header(0x08, {4});
    h.resize(h.size() + 4, 1);
    return h;
  }(), "expected images");
  expect_error(dir, "images_as_labels", good, "expected labels", false);
  expect_error(dir, "float_images", [] {
    auto h = header(0x0D, {1, 1, 1});
    h.resize(h.size() + 4, 0);
    return h;
  }(), "got type 0x0d");
  {
    auto h = header(0x08, {3, 0, 28});
    expect_error(dir, "zero_rows", h, "zero dimension");
  }
  {
    // A gzip file cut in half: truncated stream.
    auto gz = io::gzip(good, "x");
    gz.resize(gz.size() / 2);
    expect_error(dir, "cut.gz", gz, "truncated gzip stream");
  }
  {
    auto gz = io::gzip(good, "x");
    for (std::size_t i = 10; i < gz.size() - 8; ++i) gz[i] ^= 0x5a;
    expect_error(dir, "corrupt.gz", gz, "gzip");
  }
  CHECK_THROWS_AS(data::read_idx_images(dir + "/missing"), IoError);
  fs::remove_all(dir);
}

TEST_CASE("IDX: a header that claims more than the limit is refused before inflating") {
  const auto dir = tmpdir();
  std::vector<std::uint8_t> zeros(8 << 20, 0);
  auto big = header(0x08, {static_cast<std::uint32_t>(zeros.size())});
  big.insert(big.end(), zeros.begin(), zeros.end());
  put(dir + "/big.gz", io::gzip(big, "x", 9));
  CHECK(data::read_idx(dir + "/big.gz").bytes.size() == zeros.size());
  CHECK_THROWS_WITH(data::read_idx(dir + "/big.gz", 1 << 20),
                    doctest::Contains("dimensions claim 8388608 data bytes, over the limit of 1048576"));
  // The generic reader, which has no header to go by, stops at its limit.
  CHECK_THROWS_WITH(io::read_file(dir + "/big.gz", 1 << 20), doctest::Contains("past the limit"));
  fs::remove_all(dir);
}

namespace {
// A valid gzip file: `head` followed by `zeros` zero bytes, ~1000:1. Built from
// one deflated block of 64 MiB of zeros ended by a full flush (byte-aligned,
// no reference to earlier data) repeated, then the final block and the
// trailer — milliseconds instead of deflating gigabytes.
std::vector<std::uint8_t> zero_bomb(const std::vector<std::uint8_t>& head, std::uint64_t zeros) {
  constexpr std::size_t chunk = std::size_t{64} << 20;
  REQUIRE(zeros % chunk == 0);
  auto deflate_raw = [](z_stream& zs, const std::uint8_t* p, std::size_t n, int flush) {
    std::vector<std::uint8_t> out(deflateBound(&zs, static_cast<uLong>(n)) + 64);
    zs.next_in = const_cast<Bytef*>(p);
    zs.avail_in = static_cast<uInt>(n);
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&zs, flush) != Z_STREAM_ERROR);
    REQUIRE(zs.avail_in == 0);
    out.resize(out.size() - zs.avail_out);
    return out;
  };
  std::vector<std::uint8_t> out{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};  // gzip header, no name
  z_stream a{};
  REQUIRE(deflateInit2(&a, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  auto h = deflate_raw(a, head.data(), head.size(), Z_FULL_FLUSH);
  deflateEnd(&a);
  out.insert(out.end(), h.begin(), h.end());
  std::vector<std::uint8_t> z(chunk, 0);
  z_stream b{};
  REQUIRE(deflateInit2(&b, 9, Z_DEFLATED, -15, 9, Z_RLE) == Z_OK);
  const auto block = deflate_raw(b, z.data(), z.size(), Z_FULL_FLUSH);
  const auto fin = deflate_raw(b, nullptr, 0, Z_FINISH);
  deflateEnd(&b);
  uLong crc = crc32(0, head.data(), static_cast<uInt>(head.size()));
  const uLong crc_chunk = crc32(0, z.data(), static_cast<uInt>(z.size()));
  for (std::uint64_t k = 0; k < zeros / chunk; ++k) {
    out.insert(out.end(), block.begin(), block.end());
    crc = crc32_combine(crc, crc_chunk, static_cast<z_off_t>(chunk));
  }
  out.insert(out.end(), fin.begin(), fin.end());
  const std::uint64_t isize = head.size() + zeros;
  for (int s = 0; s < 32; s += 8) out.push_back(static_cast<std::uint8_t>(crc >> s));
  for (int s = 0; s < 32; s += 8) out.push_back(static_cast<std::uint8_t>(isize >> s));
  return out;
}
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
#ifdef ZOO_TEST_SANITIZED
constexpr double second = 10.0;  // the instrumented build checks the bound, scaled
#else
constexpr double second = 1.0;
#endif
// Runs `f` in a child process whose address space is capped at `bytes`
// (ulimit -v); returns its exit status, or -signal.
template <class F>
int in_limited_child(std::size_t bytes, F f) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    rlimit r{bytes, bytes};
    if (setrlimit(RLIMIT_AS, &r) != 0) _exit(90);
    _exit(f());
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}
}  // namespace

TEST_CASE("IDX: a gzip bomb is refused at the size its header announces") {
  const auto dir = tmpdir();
  // 1000 labels announced; the stream inflates to 2 GiB more.
  auto head = header(0x08, {1000});
  head.resize(head.size() + 1000, 7);
  const auto bomb = zero_bomb(head, std::uint64_t{2} << 30);
  MESSAGE("bomb: " << bomb.size() << " bytes inflating to " << ((std::uint64_t{2} << 30) + head.size()));
  put(dir + "/bomb-labels.gz", bomb);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(data::read_idx_labels(dir + "/bomb-labels.gz"),
                    doctest::Contains("inflates past the 1008 bytes its header announces"));
  const double t = seconds_since(t0);
  MESSAGE("refused in " << t << " s");
  CHECK(t < second);
  CHECK_THROWS_WITH(data::read_idx_labels(dir + "/bomb-labels.gz"), doctest::Contains("bomb-labels.gz"));
  // The same stream through the generic reader really is 2 GiB: it stops at its limit.
  CHECK_THROWS_WITH(io::read_file(dir + "/bomb-labels.gz", 1 << 24), doctest::Contains("past the limit"));

  // A stream that claims 60000 images of 28x28 (47 MB) and holds 100 bytes:
  // truncated, without allocating the claim.
  auto claim = header(0x08, {60000, 28, 28});
  claim.resize(claim.size() + 100, 1);
  put(dir + "/short.gz", io::gzip(claim, "x"));
  CHECK_THROWS_WITH(data::read_idx_images(dir + "/short.gz"),
                    doctest::Contains("truncated: dimensions need 47040000 data bytes, the stream holds 100"));
  // One byte too many after the payload is caught the same way as gigabytes.
  auto extra = header(0x08, {3});
  extra.insert(extra.end(), {1, 2, 3, 4});
  put(dir + "/extra.gz", io::gzip(extra, "x"));
  CHECK_THROWS_WITH(data::read_idx_labels(dir + "/extra.gz"), doctest::Contains("inflates past the 11 bytes"));
  // A file that ends inside the header.
  put(dir + "/head.gz", io::gzip(std::vector<std::uint8_t>{0, 0, 8, 3, 0, 0}, "x"));
  CHECK_THROWS_WITH(data::read_idx_images(dir + "/head.gz"),
                    doctest::Contains("truncated header: 3 dimensions need 16 bytes, the file has 6"));

#ifndef ZOO_TEST_SANITIZED  // ASan reserves terabytes of address space: no RLIMIT_AS there
  // Under `ulimit -v` 512 MB: a named error, not std::bad_alloc.
  const int rc = in_limited_child(std::size_t{512} << 20, [&] {
    for (const char* f : {"/bomb-labels.gz", "/short.gz"}) {
      try {
        (void)data::read_idx(dir + f);
        return 1;
      } catch (const IoError&) {
      } catch (const std::bad_alloc&) {
        return 2;
      }
    }
    return 0;
  });
  CHECK(rc == 0);
#endif
  fs::remove_all(dir);
}
