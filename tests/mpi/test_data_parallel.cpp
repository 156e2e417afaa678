// Data-parallel training under mpirun -np K (K = 2, 3): each check trains a model on K
// processes and, inside every rank, the same model on one process that sees each step's
// combined batch (built from all K ranks' shares, which every rank can compute: the
// shuffle is seeded). The parameters must agree to float rounding at the end, and be
// bit-identical across ranks.
//   MLP                  SGD with momentum, cross-entropy, two epochs whose last batch
//                        takes a tail smaller than K (the loader's merge rule)
//   conv + BatchNorm     sync BN on: the one process on the combined batch;
//                        sync BN off: each rank normalizes by its own share — the one
//                        process runs the shares one by one (gradients summed with the
//                        shares' weights, running statistics averaged)
//   GAN trainer          D and G of an MLP GAN, in double, Adam: three iterations
// plus the loader's sharding (every sample once per epoch, shares of the one-process
// batches), check_same, mean, and the noise stream reseeded per rank.
// One line per failed check; exit status 1 on any failure (mpirun passes it on).
#include <zoo/zoo.hpp>
#include <zoo/data/loader.hpp>
#include <zoo/distributed.hpp>
#include <zoo/models/gan_training.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

namespace dist = zoo::distributed;
using zoo::Tensor;

static int failures = 0;
static int my_rank = 0;

static void check(bool ok, const std::string& what) {
  if (ok) return;
  ++failures;
  std::printf("rank %d: FAIL %s\n", my_rank, what.c_str());
  std::fflush(stdout);
}

// |a − b| ≤ tol·(1 + |b|) everywhere; returns the largest |a − b|.
template <class T>
static double compare(const T* a, const T* b, std::size_t n, double tol, const std::string& what) {
  double worst = 0;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = std::abs(double(a[i]) - double(b[i]));
    worst = std::max(worst, d);
    if (!(d <= tol * (1 + std::abs(double(b[i]))))) ++bad;
  }
  check(bad == 0, what + ": " + std::to_string(bad) + " of " + std::to_string(n) +
                      " values differ, largest " + std::to_string(worst));
  return worst;
}

// Bit-identical on every rank: rank 0's values broadcast and compared exactly.
template <class T>
static void same_on_all_ranks(dist::World& w, const T* v, std::size_t n, const std::string& what) {
  std::vector<T> root(v, v + n);
  w.broadcast(root.data(), n, 0);
  check(std::equal(root.begin(), root.end(), v), what + ": differs from rank 0");
}

// 8×8 images whose label shows in the pixels (a bright row), plus noise.
static zoo::data::Dataset make_set(std::size_t n, std::uint64_t seed) {
  zoo::data::Dataset ds;
  ds.count = n, ds.rows = 8, ds.cols = 8, ds.num_classes = 8;
  ds.pixels.resize(n * 64);
  ds.labels.resize(n);
  zoo::Rng r(seed);
  for (std::size_t i = 0; i < n; ++i) {
    const auto y = static_cast<std::uint8_t>(r.below(8));
    ds.labels[i] = y;
    for (std::size_t j = 0; j < 64; ++j)
      ds.pixels[i * 64 + j] = static_cast<std::uint8_t>(r.below(120) + (j / 8 == y ? 120 : 0));
  }
  return ds;
}

// Every rank's share of a step, concatenated: the one-process batch.
struct Combined {
  std::vector<zoo::data::DataLoader> shards;
  zoo::data::Batch part;
  Tensor<float> x;
  std::vector<int> y;
  std::vector<std::size_t> sizes;  // each share's sample count
  Combined(const zoo::data::Dataset& ds, zoo::data::LoaderOptions o, int k) {
    for (int q = 0; q < k; ++q) {
      o.rank = q, o.world = k;
      shards.emplace_back(ds, o);
    }
  }
  void start_epoch(std::uint64_t e) {
    for (auto& s : shards) s.start_epoch(e);
  }
  bool next() {
    std::vector<float> xs;
    y.clear(), sizes.clear();
    std::vector<std::size_t> shape;
    for (auto& s : shards) {
      if (!s.next(part)) return false;
      xs.insert(xs.end(), part.x.begin(), part.x.end());
      for (std::size_t i = 0; i < part.size(); ++i) y.push_back(static_cast<int>(part.y[i]));
      sizes.push_back(part.size());
      shape.assign(part.x.shape().begin(), part.x.shape().end());
    }
    shape[0] = y.size();
    x.resize(shape);
    std::copy(xs.begin(), xs.end(), x.begin());
    return true;
  }
};

static std::vector<int> labels_of(const zoo::data::Batch& b) {
  std::vector<int> y(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) y[i] = static_cast<int>(b.y[i]);
  return y;
}

// ------------------------------------------------------------------------ the loader
static void loader_shards(int k, int rank) {
  for (std::size_t n : {72u, 73u, 97u}) {
    const auto ds = make_set(n, 5);
    zoo::data::LoaderOptions o{.batch_size = 24, .shuffle = true, .seed = 3};
    zoo::data::DataLoader one(ds, o);
    Combined all(ds, o, k);
    o.rank = rank, o.world = k;
    zoo::data::DataLoader mine(ds, o);
    for (std::uint64_t e = 0; e < 2; ++e) {
      one.start_epoch(e), all.start_epoch(e), mine.start_epoch(e);
      std::multiset<std::size_t> seen;
      zoo::data::Batch b1, bk, bm;
      std::size_t steps = 0;
      while (all.next()) {
        ++steps;
        check(mine.next(bm), "loader: rank's loader ended early");
        check(bm.global_size == all.y.size(), "loader: global_size");
        std::size_t lo = 0;
        for (int q = 0; q < rank; ++q) lo += all.sizes[static_cast<std::size_t>(q)];
        check(bm.offset == lo, "loader: offset");
        check(*std::max_element(all.sizes.begin(), all.sizes.end()) -
                      *std::min_element(all.sizes.begin(), all.sizes.end()) <= 1,
              "loader: shares differ by more than one sample");
        // The shares are the one-process batch's rows, but for a merged tail.
        const bool merged = n % 24 > 0 && n % 24 < static_cast<std::size_t>(k);
        if (!merged || steps < mine.num_batches()) {
          check(one.next(b1), "loader: one-process loader ended early");
          check(b1.size() == all.y.size() && std::equal(b1.x.begin(), b1.x.end(), all.x.begin()),
                "loader: the shares of n=" + std::to_string(n) + " are not the one-process batch");
        }
      }
      check(!mine.next(bm), "loader: rank's loader has more steps");
      check(steps == mine.num_batches(), "loader: num_batches " + std::to_string(mine.num_batches()) +
                                             " but " + std::to_string(steps) + " steps");
      // Every sample once per epoch across ranks.
      for (auto& s : all.shards) s.start_epoch(e);
      for (auto& s : all.shards)
        while (s.next(bk)) seen.insert(bk.index.begin(), bk.index.end());
      check(seen.size() == n && std::set<std::size_t>(seen.begin(), seen.end()).size() == n,
            "loader: an epoch of n=" + std::to_string(n) + " does not show every sample once");
    }
  }
}

// ------------------------------------------------------------------------ MLP, SGD
using Mlp = zoo::Sequential<zoo::Linear<32>, zoo::ReLU, zoo::Linear<8>>;
using MlpModel = zoo::Model<Mlp, zoo::Shape<64>>;

static void mlp(dist::World& w) {
  const auto ds = make_set(73, 11);  // batches of 24: the tail of 1 joins the third
  zoo::data::LoaderOptions o{.batch_size = 24, .shuffle = true, .seed = 7};
  MlpModel a(w.rank() == 0 ? 1 : 2), ref(1);  // rank 1+ start elsewhere: replicate fixes it
  dist::replicate(w, a);
  const zoo::SGDOptions so{.lr = 0.05, .momentum = 0.9};
  zoo::SGD<float> oa(a.parameters(), so), oref(ref.parameters(), so);
  o.rank = w.rank(), o.world = w.size();
  zoo::data::DataLoader dl(ds, o);
  Combined all(ds, o, w.size());
  zoo::data::Batch b;
  Tensor<float> d1, d2;
  float first = 0, last = 0;
  for (std::uint64_t e = 0; e < 3; ++e) {
    dl.start_epoch(e), all.start_epoch(e);
    while (dl.next(b) && all.next()) {
      w.begin_step(b.size());
      a.zero_grad();
      const auto ya = labels_of(b);
      const float la = zoo::cross_entropy_loss(a.forward(b.x), std::span<const int>(ya), &d1);
      a.backward(d1);
      dist::reduce(w, a);
      oa.step();
      ref.zero_grad();
      last = zoo::cross_entropy_loss(ref.forward(all.x), std::span<const int>(all.y), &d2);
      if (first == 0) first = last;
      ref.backward(d2);
      oref.step();
      // The global loss is the weighted mean of the ranks' losses.
      check(std::abs(w.mean(la, double(b.size())) - last) < 1e-5 * (1 + std::abs(last)),
            "mlp: the ranks' mean loss is not the combined batch's");
    }
  }
  check(last < first, "mlp: the loss did not fall");
  compare(a.parameters().data, ref.parameters().data, MlpModel::num_params, 1e-5, "mlp: parameters");
  same_on_all_ranks(w, a.parameters().data, MlpModel::num_params, "mlp: parameters");
}

// ------------------------------------------------------------------------ conv + BN
using ConvNet = zoo::Sequential<zoo::Conv2d<4, 3, 1, 1>, zoo::BatchNorm, zoo::ReLU, zoo::Flatten,
                                zoo::Linear<8>>;
using ConvModel = zoo::Model<ConvNet, zoo::Shape<1, 8, 8>>;

static void conv_bn(dist::World& w, bool sync) {
  const std::string tag = sync ? "conv+bn (sync on)" : "conv+bn (sync off)";
  const auto ds = make_set(96, 13);
  zoo::data::LoaderOptions o{.batch_size = 30, .shuffle = true, .seed = 9, .flatten = false};
  ConvModel a(4), ref(4), comb(4);  // comb: always the combined batch
  dist::replicate(w, a, sync);
  const zoo::SGDOptions so{.lr = 0.05, .momentum = 0.9};
  zoo::SGD<float> oa(a.parameters(), so), oref(ref.parameters(), so), ocomb(comb.parameters(), so);
  o.rank = w.rank(), o.world = w.size();
  zoo::data::DataLoader dl(ds, o);
  Combined all(ds, o, w.size());
  zoo::data::Batch b;
  Tensor<float> d1, d2, xq;
  std::vector<float> old_buf(ConvModel::num_buffers), sum_buf(ConvModel::num_buffers);
  for (std::uint64_t e = 0; e < 2; ++e) {
    dl.start_epoch(e), all.start_epoch(e);
    while (dl.next(b) && all.next()) {
      w.begin_step(b.size());
      a.zero_grad();
      const auto ya = labels_of(b);
      zoo::cross_entropy_loss(a.forward(b.x), std::span<const int>(ya), &d1);
      a.backward(d1);
      dist::reduce(w, a);
      oa.step();

      ref.zero_grad();
      if (sync) {
        zoo::cross_entropy_loss(ref.forward(all.x), std::span<const int>(all.y), &d2);
        ref.backward(d2);
      } else {
        // Each share alone through the one process: its own statistics, its gradient
        // weighted by its share, its running-statistics update averaged with the others'.
        const std::size_t G = all.y.size();
        float* buf = ref.buffer_data();
        std::copy(buf, buf + ConvModel::num_buffers, old_buf.begin());
        std::fill(sum_buf.begin(), sum_buf.end(), 0.0f);
        std::size_t lo = 0;
        for (std::size_t nq : all.sizes) {
          std::copy(old_buf.begin(), old_buf.end(), buf);
          xq.resize({nq, 1, 8, 8});
          std::copy(all.x.begin() + long(lo * 64), all.x.begin() + long((lo + nq) * 64), xq.begin());
          std::vector<int> yq(all.y.begin() + long(lo), all.y.begin() + long(lo + nq));
          zoo::cross_entropy_loss(ref.forward(xq), std::span<const int>(yq), &d2);
          for (auto& v : d2) v *= float(double(nq) / double(G));
          ref.backward(d2);
          for (std::size_t i = 0; i < sum_buf.size(); ++i) sum_buf[i] += buf[i];
          lo += nq;
        }
        for (std::size_t i = 0; i < sum_buf.size(); ++i) buf[i] = sum_buf[i] / float(all.sizes.size());
      }
      oref.step();
      comb.zero_grad();
      zoo::cross_entropy_loss(comb.forward(all.x), std::span<const int>(all.y), &d2);
      comb.backward(d2);
      ocomb.step();
    }
  }
  compare(a.parameters().data, ref.parameters().data, ConvModel::num_params, 2e-5, tag + ": parameters");
  compare(a.buffer_data(), ref.buffer_data(), ConvModel::num_buffers, 2e-5, tag + ": running statistics");
  same_on_all_ranks(w, a.parameters().data, ConvModel::num_params, tag + ": parameters");
  same_on_all_ranks(w, a.buffer_data(), ConvModel::num_buffers, tag + ": running statistics");
  // Sync off must differ from the combined batch's statistics, or this shows nothing.
  double far = 0;
  for (std::size_t i = 0; i < ConvModel::num_params; ++i)
    far = std::max(far, double(std::abs(a.parameters().data[i] - comb.parameters().data[i])));
  if (!sync) check(far > 1e-3, tag + ": equals the combined batch's run (largest difference " + std::to_string(far) + ")");
}

// ------------------------------------------------------------------------ GAN trainer
using GNet = zoo::Sequential<zoo::Linear<24>, zoo::ReLU, zoo::Linear<64>, zoo::Tanh>;
using DNet = zoo::Sequential<zoo::Linear<24>, zoo::LeakyReLU<1, 5>, zoo::Linear<1>>;
using GModel = zoo::BasicModel<double, GNet, zoo::Shape<16>>;
using DModel = zoo::BasicModel<double, DNet, zoo::Shape<64>>;

static void gan(dist::World& w) {
  const auto ds = make_set(64, 17);
  zoo::data::LoaderOptions o{.batch_size = 16, .shuffle = true, .drop_last = true, .seed = 5,
                             .range = zoo::data::Range::minus_one_one};
  GModel g(1), gref(1);
  DModel d(2), dref(2);
  dist::replicate(w, g);
  dist::replicate(w, d);
  zoo::models::GanTrainer<GModel, DModel> tr(g, d), tref(gref, dref);
  tr.comm = &w;
  o.rank = w.rank(), o.world = w.size();
  zoo::data::DataLoader dl(ds, o);
  Combined all(ds, o, w.size());
  zoo::data::Batch b;
  Tensor<double> real, real_all;
  dl.start_epoch(0), all.start_epoch(0);
  for (int it = 0; it < 3 && dl.next(b) && all.next(); ++it) {
    real.resize(b.x.shape());
    std::copy(b.x.begin(), b.x.end(), real.begin());
    real_all.resize(all.x.shape());
    std::copy(all.x.begin(), all.x.end(), real_all.begin());
    const auto l = tr.step(real);
    const auto lr = tref.step(real_all);
    // (GanLosses are floats.)
    check(std::abs(w.mean(l.d, double(b.size())) - lr.d) < 1e-6 && std::abs(w.mean(l.g, double(b.size())) - lr.g) < 1e-6,
          "gan: the ranks' mean losses are not the combined batch's at iteration " + std::to_string(it));
  }
  compare(g.parameters().data, gref.parameters().data, GModel::num_params, 1e-12, "gan: G parameters");
  compare(d.parameters().data, dref.parameters().data, DModel::num_params, 1e-12, "gan: D parameters");
  same_on_all_ranks(w, g.parameters().data, GModel::num_params, "gan: G parameters");
  same_on_all_ranks(w, d.parameters().data, DModel::num_params, "gan: D parameters");
}

// ------------------------------------------------------------------------ the world
static void world_calls(dist::World& w) {
  check(std::abs(w.mean(double(w.rank() + 1), 1.0) - (w.size() + 1) / 2.0) < 1e-12, "mean");
  check(w.sum(1.0) == double(w.size()), "sum");
  bool threw = false;
  try {
    w.check_same("a value that differs", static_cast<std::uint64_t>(w.rank()));
  } catch (const std::runtime_error& e) {
    threw = std::string(e.what()).find("the ranks disagree on a value that differs: rank 0 has 0, rank 1 has 1") !=
            std::string::npos;
  }
  check(threw, "check_same: no error naming the value and the ranks");
  w.check_same("a value that agrees", 42);
  // The noise streams differ across ranks after replicate (a VAE's ε must not repeat).
  MlpModel m(3);
  dist::replicate(w, m);
  const std::uint64_t draw = m.noise_rng().next_u64();
  std::vector<std::uint64_t> all(static_cast<std::size_t>(w.size()));
  w.allgather(draw, all.data());
  check(std::set<std::uint64_t>(all.begin(), all.end()).size() == all.size(), "noise streams are not per rank");
}

int main(int argc, char** argv) {
  auto& w = dist::init(argc, argv);
  my_rank = w.rank();
  if (w.size() < 2) {
    std::printf("run under mpirun -np K with K >= 2 (this is a world of %d)\n", w.size());
    return 1;
  }
  try {
    world_calls(w);
    loader_shards(w.size(), w.rank());
    mlp(w);
    conv_bn(w, true);
    conv_bn(w, false);
    gan(w);
  } catch (const std::exception& e) {
    w.fail(std::string("test_data_parallel: ") + e.what());
  }
  const int total = static_cast<int>(w.sum(failures));
  if (w.is_root()) std::printf("data-parallel on %d ranks: %d failed checks\n", w.size(), total);
  return total == 0 ? 0 : 1;
}
