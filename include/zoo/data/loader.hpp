// zoo/data/loader.hpp — an image classification data set in memory and a
// DataLoader over it, as torch.utils.data.DataLoader with shuffle / drop_last.
//
//   auto train = zoo::data::load_mnist("data/mnist", "train");   // 8000 x 28 x 28 bytes
//   zoo::data::DataLoader dl(train, {.batch_size = 128, .shuffle = true, .seed = 1,
//                                    .range = Range::minus_one_one, .flatten = false});
//   zoo::data::Batch b;
//   for (dl.start_epoch(e); dl.next(b);) model.forward(b.x);     // b.x: (B, 1, 28, 28)
//
// Pixels stay bytes (1/4 of the memory of floats) and are scaled while a batch
// is filled: to [0,1] as ToTensor(), or [-1,1] as Normalize(0.5, 0.5). The
// batch tensors are resized in place, so after the first batch no step allocates.
// The order of epoch e is a Fisher-Yates shuffle from Rng(seed, e): the same
// seed gives the same batches on every machine.
//
// Data-parallel runs (zoo/distributed.hpp) set rank and world: every rank shuffles
// alike, cuts the same global batches of batch_size, and takes its contiguous share of
// each (sizes differ by at most one), so an epoch shows every sample once across ranks
// and step s of K processes sees the samples of step s of one process. A last batch
// smaller than the number of ranks would leave a rank with nothing: it joins the batch
// before it instead (without drop_last).
#pragma once
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/rng.hpp"
#include "../core/tensor.hpp"
#include "idx.hpp"

namespace zoo::data {

struct Dataset {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // (N, rows, cols)
  std::vector<std::uint8_t> labels;  // (N)
  std::size_t num_classes = 10;
  std::size_t size() const { return count; }
  std::size_t image_size() const { return rows * cols; }
};

// Images and labels from two IDX files (raw or .gz); their counts must agree
// and every label must be below `num_classes`.
inline Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                std::size_t num_classes = 10) {
  auto im = read_idx_images(images_path);
  auto lb = read_idx_labels(labels_path);
  if (im.count != lb.size())
    throw IoError(labels_path, "has " + std::to_string(lb.size()) + " labels, but " + images_path +
                                   " has " + std::to_string(im.count) + " images");
  for (std::size_t i = 0; i < lb.size(); ++i)
    if (lb[i] >= num_classes)
      throw IoError(labels_path, "label " + std::to_string(lb[i]) + " at index " +
                                     std::to_string(i) + " is not below " +
                                     std::to_string(num_classes) + " classes");
  return {im.count, im.rows, im.cols, std::move(im.pixels), std::move(lb), num_classes};
}

// The directory of a data set named on a command line: "mnist" and "fashion" are
// where scripts/fetch_data.sh puts them; anything else is taken as a path.
inline std::string dataset_dir(const std::string& name) {
  if (name == "mnist") return "data/mnist";
  if (name == "fashion") return "data/fashion-mnist";
  return name;
}

// `dir`/{split}-images-idx3-ubyte(.gz) and labels; split is "train" or "t10k".
inline Dataset load_mnist(const std::string& dir, const std::string& split) {
  auto pick = [&](const std::string& stem) {
    const std::string p = dir + "/" + split + "-" + stem;
    std::FILE* f = std::fopen((p + ".gz").c_str(), "rb");
    if (f) {
      std::fclose(f);
      return p + ".gz";
    }
    return p;
  };
  return load_idx_dataset(pick("images-idx3-ubyte"), pick("labels-idx1-ubyte"));
}

// How the ranks of a data-parallel run share an epoch (DataLoader, DetectionLoader): all
// cut the same global batches of `batch` from the same order, and rank r takes the
// contiguous rows [lo, lo + size) of each. A world of one takes whole batches.
struct BatchShares {
  std::size_t batch = 1, rank = 0, world = 1;
  bool drop_last = false;

  // The options a loader named `who` was given, over `count` items ("samples", "images").
  static void check(const char* who, const char* items, std::size_t count, std::size_t batch, int rank,
                    int world) {
    if (world < 1 || rank < 0 || rank >= world)
      throw std::invalid_argument(std::string(who) + ": rank " + std::to_string(rank) + " is not in a world of " +
                                  std::to_string(world));
    if (world > 1 && batch < static_cast<std::size_t>(world))
      throw std::invalid_argument(std::string(who) + ": batch_size " + std::to_string(batch) +
                                  " cannot be shared by " + std::to_string(world) + " processes");
    if (world > 1 && count < static_cast<std::size_t>(world))
      throw std::invalid_argument(std::string(who) + ": " + std::to_string(count) + " " + items +
                                  " cannot be shared by " + std::to_string(world) + " processes");
  }

  // Batches per epoch of n items: ceil(n / batch), or floor with drop_last; one fewer when
  // the tail is smaller than the world (it joins the batch before).
  std::size_t num_batches(std::size_t n) const {
    if (drop_last) return n / batch;
    const std::size_t tail = n % batch;
    return (n + batch - 1) / batch - (n > batch && tail > 0 && tail < world ? 1 : 0);
  }

  struct Cut {
    std::size_t global = 0, lo = 0, size = 0;  // global = 0: the epoch has ended
  };
  // The batch that starts at `pos` of n items, and this rank's share of it.
  Cut at(std::size_t n, std::size_t pos) const {
    const std::size_t left = n - pos;
    std::size_t g = std::min(batch, left);
    if (g == 0 || (drop_last && g < batch)) return {};
    if (!drop_last && left > g && left - g < world) g = left;  // the tail joins this batch
    const std::size_t lo = g * rank / world;
    return {g, lo, g * (rank + 1) / world - lo};
  }
};

enum class Range { zero_one, minus_one_one };
enum class Labels { index, one_hot };

struct LoaderOptions {
  std::size_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;
  std::uint64_t seed = 0;
  Range range = Range::zero_one;
  bool flatten = true;            // (B, rows*cols) or (B, 1, rows, cols)
  Labels labels = Labels::index;  // y as (B) class indices or (B, classes) one-hot
  int rank = 0;                   // this process's share of each batch (distributed runs)
  int world = 1;                  // how many processes share it
};

struct Batch {
  Tensor<float> x;               // (B, H*W) or (B, 1, H, W)
  Tensor<float> y;               // (B) or (B, classes)
  std::vector<std::size_t> index;  // data set rows of this batch, (B)
  std::size_t global_size = 0;     // the batch summed over ranks (= size() in one process)
  std::size_t offset = 0;          // where this rank's share starts in it
  std::size_t size() const { return index.size(); }
};

class DataLoader {
 public:
  DataLoader(const Dataset& ds, LoaderOptions o = {}) : ds_(&ds), opt_(o), order_(ds.count) {
    if (o.batch_size == 0) throw std::invalid_argument("zoo::data::DataLoader: batch_size is 0");
    BatchShares::check("zoo::data::DataLoader", "samples", ds.count, o.batch_size, o.rank, o.world);
    shares_ = {o.batch_size, static_cast<std::size_t>(o.rank), static_cast<std::size_t>(o.world), o.drop_last};
    // A table, computed in double: 255 maps to exactly 1 and 0 to exactly -1.
    for (int v = 0; v < 256; ++v)
      lut_[v] = static_cast<float>(o.range == Range::zero_one ? v / 255.0 : v / 127.5 - 1.0);
    start_epoch(0);
  }

  // Batches per epoch: ceil(N / B), or floor with drop_last (BatchShares).
  std::size_t num_batches() const { return shares_.num_batches(ds_->count); }
  const LoaderOptions& options() const { return opt_; }

  void start_epoch(std::uint64_t epoch) {
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    if (opt_.shuffle) {
      Rng rng(opt_.seed * 0x9e3779b97f4a7c15ULL + epoch);
      for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
    }
    pos_ = 0;
  }

  // Fills `b` with the next batch; false at the end of the epoch.
  bool next(Batch& b) {
    const auto [g, lo, bs] = shares_.at(ds_->count, pos_);
    if (g == 0) return false;
    b.global_size = g, b.offset = lo;
    const std::size_t hw = ds_->image_size(), k = ds_->num_classes;
    if (opt_.flatten) b.x.resize({bs, hw});
    else b.x.resize({bs, 1, ds_->rows, ds_->cols});
    if (opt_.labels == Labels::index) b.y.resize({bs});
    else b.y.resize({bs, k});
    b.index.assign(order_.begin() + static_cast<std::ptrdiff_t>(pos_ + lo),
                   order_.begin() + static_cast<std::ptrdiff_t>(pos_ + lo + bs));
    for (std::size_t i = 0; i < bs; ++i) {
      const std::uint8_t* src = ds_->pixels.data() + b.index[i] * hw;
      float* dst = b.x.data() + i * hw;
      for (std::size_t j = 0; j < hw; ++j) dst[j] = lut_[src[j]];
      const std::size_t label = ds_->labels[b.index[i]];
      if (opt_.labels == Labels::index) {
        b.y[i] = static_cast<float>(label);
      } else {
        float* row = b.y.data() + i * k;
        std::fill(row, row + k, 0.0f);
        row[label] = 1.0f;
      }
    }
    pos_ += g;
    return true;
  }

 private:
  const Dataset* ds_;
  LoaderOptions opt_;
  BatchShares shares_;
  std::vector<std::size_t> order_;
  std::size_t pos_ = 0;
  float lut_[256];
};

}  // namespace zoo::data
