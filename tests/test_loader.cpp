// DataLoader: every sample once per epoch, seeded shuffles, drop_last, the
// transforms and label encodings, and no reallocation at steady state.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>

#include "zoo/data/loader.hpp"

using namespace zoo;
using namespace zoo::data;

namespace {
// Sample i: every pixel is (i * 3 + j) % 256, label i % 10 — so a batch row
// tells which sample it is.
Dataset synthetic(std::size_t n) {
  Dataset d{n, 4, 5, {}, {}, 10};
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < 20; ++j) d.pixels.push_back(static_cast<std::uint8_t>((i * 3 + j) % 256));
    d.labels.push_back(static_cast<std::uint8_t>(i % 10));
  }
  return d;
}
std::vector<std::size_t> epoch_order(DataLoader& dl, std::uint64_t e) {
  std::vector<std::size_t> out;
  Batch b;
  for (dl.start_epoch(e); dl.next(b);) out.insert(out.end(), b.index.begin(), b.index.end());
  return out;
}
}  // namespace

TEST_CASE("DataLoader visits every sample once, with or without the partial batch") {
  const auto ds = synthetic(103);
  DataLoader keep(ds, {.batch_size = 10, .shuffle = true, .seed = 7});
  CHECK(keep.num_batches() == 11);
  auto order = epoch_order(keep, 0);
  CHECK(order.size() == 103);
  CHECK(std::set<std::size_t>(order.begin(), order.end()).size() == 103);

  DataLoader drop(ds, {.batch_size = 10, .shuffle = true, .drop_last = true, .seed = 7});
  CHECK(drop.num_batches() == 10);
  Batch b;
  std::size_t batches = 0;
  for (drop.start_epoch(0); drop.next(b);) {
    CHECK(b.size() == 10);
    ++batches;
  }
  CHECK(batches == 10);
}

TEST_CASE("DataLoader shuffles per epoch, reproducibly from the seed") {
  const auto ds = synthetic(50);
  DataLoader a(ds, {.batch_size = 8, .seed = 3}), a2(ds, {.batch_size = 8, .seed = 3}),
      c(ds, {.batch_size = 8, .seed = 4});
  const auto e0 = epoch_order(a, 0), e1 = epoch_order(a, 1);
  CHECK(e0 == epoch_order(a2, 0));
  CHECK(e1 == epoch_order(a2, 1));
  CHECK(e0 != e1);
  CHECK(e0 != epoch_order(c, 0));
  std::vector<std::size_t> id(50);
  std::iota(id.begin(), id.end(), 0);
  CHECK(e0 != id);
  DataLoader plain(ds, {.batch_size = 8, .shuffle = false});
  CHECK(epoch_order(plain, 0) == id);
  CHECK(epoch_order(plain, 5) == id);
}

TEST_CASE("DataLoader transforms: ranges, shapes, labels") {
  const auto ds = synthetic(12);
  Batch b;
  DataLoader u(ds, {.batch_size = 5, .shuffle = false, .range = Range::zero_one, .flatten = true});
  REQUIRE(u.next(b));
  CHECK(b.x.rank() == 2);
  CHECK(b.x.dim(1) == 20);
  CHECK(b.y.rank() == 1);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(b.y[i] == doctest::Approx(static_cast<double>(i % 10)));
    for (std::size_t j = 0; j < 20; ++j)
      CHECK(b.x[i * 20 + j] == doctest::Approx(((i * 3 + j) % 256) / 255.0));
  }
  DataLoader s(ds, {.batch_size = 5, .shuffle = true, .seed = 9, .range = Range::minus_one_one,
                    .flatten = false, .labels = Labels::one_hot});
  REQUIRE(s.next(b));
  CHECK(b.x.shape_str() == "(5, 1, 4, 5)");
  CHECK(b.y.shape_str() == "(5, 10)");
  for (std::size_t i = 0; i < 5; ++i) {
    const std::size_t k = b.index[i];
    CHECK(b.x[i * 20] == doctest::Approx(((k * 3) % 256) / 127.5 - 1.0));
    for (std::size_t c = 0; c < 10; ++c) CHECK(b.y[i * 10 + c] == (c == k % 10 ? 1.0f : 0.0f));
  }
  float lo = 1, hi = -1;
  Dataset ext{2, 1, 2, {0, 255, 255, 0}, {0, 1}, 10};
  DataLoader e(ext, {.batch_size = 2, .range = Range::minus_one_one});
  REQUIRE(e.next(b));
  for (float v : b.x) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo == -1.0f);
  CHECK(hi == 1.0f);
}

TEST_CASE("DataLoader reuses the batch storage at steady state") {
  const auto ds = synthetic(40);
  DataLoader dl(ds, {.batch_size = 16, .seed = 1});
  Batch b;
  dl.next(b);
  const float* px = b.x.data();
  const float* py = b.y.data();
  for (int e = 0; e < 3; ++e)
    for (dl.start_epoch(e); dl.next(b);) {  // includes the partial batch of 8
      CHECK(b.x.data() == px);
      CHECK(b.y.data() == py);
    }
}

TEST_CASE("load_idx_dataset checks that images and labels agree") {
  namespace fs = std::filesystem;
  const auto dir = (fs::temp_directory_path() / ("zoo_loader_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  IdxImages im{3, 2, 2, std::vector<std::uint8_t>(12, 9)};
  write_idx_images(dir + "/im.gz", im);
  const std::vector<std::uint8_t> two{1, 2}, bad{1, 2, 12}, ok{1, 2, 3};
  write_idx_labels(dir + "/two", two);
  write_idx_labels(dir + "/bad", bad);
  write_idx_labels(dir + "/ok", ok);
  CHECK_THROWS_WITH(load_idx_dataset(dir + "/im.gz", dir + "/two"),
                    doctest::Contains("has 2 labels, but"));
  CHECK_THROWS_WITH(load_idx_dataset(dir + "/im.gz", dir + "/bad"),
                    doctest::Contains("label 12 at index 2"));
  const auto d = load_idx_dataset(dir + "/im.gz", dir + "/ok");
  CHECK(d.count == 3);
  CHECK(d.labels == ok);
  fs::remove_all(dir);
}

TEST_CASE("the fetched MNIST split loads, when present") {
  const std::string dir = std::string(ZOO_SOURCE_DIR) + "/data/mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) return;  // run scripts/fetch_data.sh
  const auto train = load_mnist(dir, "train"), test = load_mnist(dir, "t10k");
  CHECK(train.count == 8000);
  CHECK(test.count == 2000);
  CHECK(train.rows == 28);
  CHECK(train.cols == 28);
}

TEST_CASE("DataLoader shares each batch among ranks: contiguous shares of the one-process batches") {
  for (std::size_t n : {100u, 103u, 91u}) {
    const auto ds = synthetic(n);
    for (int k : {2, 3, 4}) {
      DataLoader one(ds, {.batch_size = 30, .shuffle = true, .seed = 5});
      std::vector<DataLoader> ranks;
      for (int r = 0; r < k; ++r) ranks.emplace_back(ds, LoaderOptions{.batch_size = 30, .shuffle = true, .seed = 5, .rank = r, .world = k});
      // A tail smaller than the world joins the batch before (n = 91: a tail of 1).
      const std::size_t tail = n % 30;
      const bool merged = tail > 0 && tail < static_cast<std::size_t>(k);
      for (auto& r : ranks) CHECK(r.num_batches() == one.num_batches() - (merged ? 1 : 0));
      for (std::uint64_t e = 0; e < 2; ++e) {
        one.start_epoch(e);
        for (auto& r : ranks) r.start_epoch(e);
        std::vector<std::size_t> seen, whole;
        Batch b1, b;
        for (std::size_t s = 0; s < ranks[0].num_batches(); ++s) {
          whole.clear();
          one.next(b1);
          whole.insert(whole.end(), b1.index.begin(), b1.index.end());
          if (merged && s + 1 == ranks[0].num_batches()) {
            one.next(b1);
            whole.insert(whole.end(), b1.index.begin(), b1.index.end());
          }
          std::vector<std::size_t> joined;
          std::size_t smallest = SIZE_MAX, largest = 0;
          for (auto& r : ranks) {
            REQUIRE(r.next(b));
            CHECK(b.global_size == whole.size());
            CHECK(b.offset == joined.size());
            CHECK(b.x.batch() == b.size());
            joined.insert(joined.end(), b.index.begin(), b.index.end());
            smallest = std::min(smallest, b.size()), largest = std::max(largest, b.size());
          }
          CHECK(joined == whole);  // the shares, in rank order, are the one-process batch
          CHECK(largest - smallest <= 1);
          seen.insert(seen.end(), joined.begin(), joined.end());
        }
        for (auto& r : ranks) CHECK_FALSE(r.next(b));
        CHECK(seen.size() == n);
        CHECK(std::set<std::size_t>(seen.begin(), seen.end()).size() == n);
      }
    }
  }
}

TEST_CASE("DataLoader refuses a rank outside its world and worlds larger than the batch or the data") {
  const auto ds = synthetic(5);
  CHECK_THROWS_WITH_AS(DataLoader(ds, {.batch_size = 4, .rank = 2, .world = 2}),
                       doctest::Contains("rank 2 is not in a world of 2"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(DataLoader(ds, {.batch_size = 2, .rank = 0, .world = 3}),
                       doctest::Contains("batch_size 2 cannot be shared by 3 processes"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(DataLoader(ds, {.batch_size = 8, .rank = 0, .world = 6}),
                       doctest::Contains("5 samples cannot be shared by 6 processes"), std::invalid_argument);
  // One process: exactly as without the options.
  DataLoader a(ds, {.batch_size = 2, .seed = 3}), b(ds, {.batch_size = 2, .seed = 3, .rank = 0, .world = 1});
  CHECK(epoch_order(a, 1) == epoch_order(b, 1));
  CHECK(a.num_batches() == 3);
  CHECK(b.num_batches() == 3);
}
