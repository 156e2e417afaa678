// IDX reader/writer: round trips (raw and gzip) and a corpus of broken files,
// each of which must give an IoError naming the file and the fault.
#include <doctest/doctest.h>

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

TEST_CASE("IDX: a gzip bomb stops at the size limit") {
  const auto dir = tmpdir();
  std::vector<std::uint8_t> zeros(8 << 20, 0);
  auto big = header(0x08, {static_cast<std::uint32_t>(zeros.size())});
  big.insert(big.end(), zeros.begin(), zeros.end());
  put(dir + "/bomb.gz", io::gzip(big, "x", 9));
  CHECK_NOTHROW(data::read_idx(dir + "/bomb.gz"));
  try {
    (void)data::read_idx(dir + "/bomb.gz", 1 << 20);
    FAIL("no error");
  } catch (const IoError& e) {
    CHECK(std::string(e.what()).find("past the limit") != std::string::npos);
  }
  fs::remove_all(dir);
}
