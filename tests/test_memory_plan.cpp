// The static memory plan (core/plan.hpp) and the inference model (graph/inference.hpp).
// Built with ZOO_PLAN_CHECK: the arena starts as NaN and every value is overwritten with
// NaN right after its last reader, so a plan that let two live values share memory (or a
// layer that read a value after its end) would change the output. For every model of the
// zoo and a graph with long skips: the inference model's outputs equal the training
// model's eval outputs bit for bit, at two batch sizes; the arena is exactly the
// compile-time figure; the greedy placement keeps live values apart on random lifetimes.
#define ZOO_PLAN_CHECK 1
#include <doctest/doctest.h>

#include <cstring>
#include <vector>
#include <zoo/models/autoencoder.hpp>
#include <zoo/models/diffusion/context_unet.hpp>
#include <zoo/models/diffusion/ddpm.hpp>
#include <zoo/io/safetensors.hpp>
#include <filesystem>
#include <zoo/models/gan.hpp>
#include <zoo/models/gan_training.hpp>
#include <zoo/models/lenet.hpp>
#include <zoo/models/vae.hpp>
#include <zoo/models/yolo/yolov5.hpp>
#include <zoo/zoo.hpp>

using namespace zoo;

namespace {

template <class T>
void fill(Tensor<T>& t, Rng& r) {
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(r.uniform() * 2 - 1);
}

template <class M, class... S>
std::vector<Tensor<typename M::scalar>> inputs(std::size_t n, Rng& r, type_list<S...>) {
  std::vector<Tensor<typename M::scalar>> xs(sizeof...(S));
  std::size_t k = 0;
  ((xs[k].template resize_batch<S>(n), fill(xs[k], r), ++k), ...);
  return xs;
}

template <class M, std::size_t... K>
const auto& run(M& m, const std::vector<Tensor<typename M::scalar>>& xs,
                std::index_sequence<K...>) {
  return m.forward(xs[K]...);
}

// Trains one forward (BatchNorm running statistics move off their initial values), then
// compares eval forwards of the Model and of an InferenceModel sharing its weights.
template <class M>
void check_model(const std::string& what, std::size_t n1, std::size_t n2) {
  CAPTURE(what);
  using T = typename M::scalar;
  using I = inference_model_t<M>;
  auto m = std::make_unique<M>(7);
  Rng r(11);
  constexpr auto seq = std::make_index_sequence<M::num_inputs>{};
  {
    auto xs = inputs<M>(n1, r, typename M::input_shapes{});
    run(*m, xs, seq);
  }
  m->eval();
  auto inf = std::make_unique<I>(*m);
  for (const std::size_t n : {n1, n2, n1}) {
    CAPTURE(n);
    auto xs = inputs<M>(n, r, typename M::input_shapes{});
    run(*m, xs, seq);
    run(*inf, xs, seq);
    for (std::size_t o = 0; o < M::num_outputs; ++o) {
      CAPTURE(o);
      const Tensor<T>& a = m->output(o);
      const Tensor<T>& b = inf->output(o);
      REQUIRE(a.size() == b.size());
      std::size_t differ = 0;
      for (std::size_t i = 0; i < a.size(); ++i) differ += std::memcmp(&a[i], &b[i], sizeof(T)) != 0;
      CHECK(differ == 0);
    }
    // The arena is the compile-time figure, no more.
    CHECK(inf->arena_bytes() == I::plan_values_per_sample * n * sizeof(T));
  }
  MESSAGE(what << ": planned inference " << I::bytes_per_sample / 1024.0
               << " KB per sample; training keeps "
               << M::train_bytes_per_sample / 1024.0 << " KB");
  CHECK(I::bytes_per_sample < M::train_bytes_per_sample);
}

// Long skips: the input and early values read by nodes far down the list.
using Skips = Graph<Inputs<"x", "z">,
                    Node<"a", Linear<48>, from<"x">>,
                    Node<"b", ReLU>,
                    Node<"c", Linear<48>>,
                    Node<"d", Tanh>,
                    Node<"e", Linear<48>>,
                    Node<"f", Sigmoid>,
                    Node<"g", Add, from<"f", "a">>,  // a: read again five nodes later
                    Node<"h", Linear<48>, from<"z">>,
                    Node<"i", Mul, from<"g", "h">>,
                    Node<"j", GELU>,
                    Node<"k", Concat, from<"j", "b", "d">>,
                    Node<"l", Linear<16>>,
                    Node<"m", Linear<16>, from<"x">>,  // the input, at the end
                    Node<"out", Add, from<"l", "m">>,
                    Outputs<"out", "d">>;

}  // namespace

TEST_CASE("greedy placement never lets two live values overlap") {
  Rng r(5);
  for (int trial = 0; trial < 200; ++trial) {
    std::array<plan::Interval, 24> v{};
    // Positions below 24 take the planner's by-position lists (as a container's nodes do);
    // up to 30, its scan over every placed value.
    const std::size_t positions = trial % 2 ? 20 : 30;
    for (auto& iv : v) {
      const std::size_t a = r.next_u64() % positions, b = r.next_u64() % positions;
      iv = {r.next_u64() % 5 == 0 ? 0 : 16 * (1 + r.next_u64() % 40), std::min(a, b), std::max(a, b)};
    }
    const auto p = plan::greedy(v);
    REQUIRE(plan::disjoint(v, p));
    // Never above the sum, never below the largest set of values alive at one position.
    std::size_t sum = 0, live_max = 0;
    for (auto& iv : v) sum += iv.size;
    for (std::size_t t = 0; t < 30; ++t) {
      std::size_t live = 0;
      for (auto& iv : v) live += iv.first <= t && t <= iv.last ? iv.size : 0;
      live_max = std::max(live_max, live);
    }
    CHECK(p.peak <= sum);
    CHECK(p.peak >= live_max);
  }
}

TEST_CASE("a chain plans into two buffers and runs element-wise layers in place") {
  using Net = Sequential<Linear<64>, BatchNorm, GELU, Linear<64>, Tanh, Linear<32>, SiLU,
                         Linear<10>>;
  using L = bind_t<Net, float, Shape<20>>;
  // Linear → BN → GELU share one value (in place); Linear + Tanh fuse; SiLU in place:
  // at most two 64-wide values are alive at once.
  static_assert(infer_scratch_of<L>() == 2 * 64);
  check_model<Model<Net, Shape<20>>>("chain", 5, 3);
}

TEST_CASE("a chain that ends element-wise writes the caller's y and runs its tail there") {
  using Net = Sequential<Linear<64>, ReLU, BatchNorm>;
  using L = bind_t<Net, float, Shape<20>>;
  // Linear + ReLU write y, BatchNorm runs over it: nothing of the chain is in the arena.
  static_assert(L::tail_in_place() && infer_scratch_of<L>() == 0);
  check_model<Model<Net, Shape<20>>>("linear relu bn", 5, 3);
  using Net2 = Sequential<Conv2d<4, 3, 1, 1>, BatchNorm, SiLU>;
  static_assert(infer_scratch_of<bind_t<Net2, float, Shape<2, 6, 6>>>() == plan::round_up(4 * 36));
  check_model<Model<Net2, Shape<2, 6, 6>>>("conv bn silu", 3, 2);
}

TEST_CASE("large Linear layers keep their transposed panels in the arena") {
  namespace zm = zoo::models;
  using Noise = Shape<zm::gan_noise_dim>;
  using G = bind_t<zm::DcGenerator, float, Noise>;
  using Wide = bind_t<Linear<6272>, float, Shape<1024>>;
  static_assert(Wide::dense_possible && Wide::infer_ws >= 1024 + 6272);
  // The panels share memory with values dead at that layer: the DCGAN generator's arena is
  // still set by its first transposed convolution (input 6272 and output 12544 values).
  static_assert(infer_scratch_of<G>() == plan::round_up(6272) + plan::round_up(12544));
  // Batches on the dense kernel's path (≥ cpu::kDenseMinBatch), one not a whole number of
  // SIMD vectors; the poisoned arena would show a panel overlapping a live value.
  check_model<Model<zm::DcGenerator, Noise>>("dcgan.G dense", 64, 71);
  check_model<Model<zm::MlpGenerator, Noise>>("gan_mlp.G dense", 67, 128);
}

TEST_CASE("generate_each hands over generate's samples batch by batch") {
  namespace zm = zoo::models;
  using Noise = Shape<zm::gan_noise_dim>;
  using Label = Shape<zm::gan_num_classes>;
  auto g = std::make_unique<Model<zm::CondDcGenerator, Noise, Label>>(3);
  constexpr std::size_t n = 130, batch = 64;  // two batches on the dense path, then 2 samples
  std::vector<int> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<int>(i * 7 % 10);
  Rng r1(9), r2(9);
  const Tensor<float> all = zm::generate(*g, n, r1, &labels, batch);
  std::vector<std::size_t> firsts, sizes;
  std::size_t differ = 0;
  zm::generate_each(
      *g, n, r2,
      [&](std::size_t first, const Tensor<float>& images) {
        firsts.push_back(first);
        sizes.push_back(images.shape()[0]);
        for (std::size_t i = 0; i < images.size(); ++i)
          differ += std::memcmp(&images[i], all.sample(first) + i, sizeof(float)) != 0;
      },
      &labels, batch);
  CHECK(firsts == std::vector<std::size_t>{0, 64, 128});
  CHECK(sizes == std::vector<std::size_t>{64, 64, 2});
  CHECK(differ == 0);
  CHECK(g->training());  // left as it was
  std::vector<int> short_labels(n - 1);
  CHECK_THROWS_AS(zm::generate(*g, n, r1, &short_labels), std::invalid_argument);
  CHECK_THROWS_AS(zm::generate(*g, n, r1, &labels, 0), std::invalid_argument);
}

TEST_CASE("graph with long skips") {
  using M = BasicModel<double, Skips, Shape<24>, Shape<8>>;
  check_model<M>("skips double", 4, 9);
  check_model<Model<Skips, Shape<24>, Shape<8>>>("skips float", 6, 1);
}

TEST_CASE("every model of the zoo: inference equals the eval forward bit for bit") {
  namespace zm = zoo::models;
  check_model<Model<zm::MlpAutoencoder, Shape<784>>>("mlp_ae", 6, 3);
  check_model<Model<zm::ConvAutoencoder, Shape<1, 28, 28>>>("conv_ae", 4, 3);
  check_model<Model<zm::VaeMse, Shape<784>>>("vae_mse", 5, 2);
  check_model<Model<zm::VaeBce, Shape<784>>>("vae_bce", 5, 2);
  using Noise = Shape<zm::gan_noise_dim>;
  using Label = Shape<zm::gan_num_classes>;
  check_model<Model<zm::MlpGenerator, Noise>>("gan_mlp.G", 4, 3);
  check_model<Model<zm::MlpDiscriminator, Shape<784>>>("gan_mlp.D", 4, 3);
  check_model<Model<zm::DcGenerator, Noise>>("dcgan.G", 3, 2);
  check_model<Model<zm::DcDiscriminator, Shape<1, 28, 28>>>("dcgan.D", 3, 2);
  check_model<Model<zm::CondDcGenerator, Noise, Label>>("cdcgan.G", 3, 2);
  check_model<Model<zm::CondDcDiscriminator, Shape<1, 28, 28>, Label>>("cdcgan.D", 3, 2);
  check_model<zm::LeNetModel>("lenet", 4, 3);
  check_model<zm::diffusion::ContextUnetModel<1, 28, 16, 10>>("context_unet nf16", 3, 2);
}

TEST_CASE("YOLOv5n and YOLOv5n-AKConv: inference equals the eval forward bit for bit") {
  using In = Shape<3, 64, 64>;
  check_model<Model<yolo::YOLOv5n<10>, In>>("yolov5n", 2, 1);
  check_model<Model<yolo::YOLOv5nAKConv<10, 3>, In>>("yolov5n_akconv3", 2, 1);
}

TEST_CASE("the summary states the planned memory") {
  InferenceModel<models::MlpAutoencoder, Shape<784>> m;
  CHECK(m.summary().find("KB activation memory per sample (planned inference)") !=
        std::string::npos);
}

namespace {
// Training with the plan: forward, backward with a fixed output gradient, in two models of
// the same weights, one with poisoning switched off. Values no backward should read are
// NaN in the poisoned one after forward, and every gradient is NaN-filled after its last
// reader: equal parameter and input gradients (bit for bit) show no backward read a value
// the plan had let die, and no two live gradients shared memory.
template <class M>
void check_training(const std::string& what, std::size_t n) {
  CAPTURE(what);
  using T = typename M::scalar;
  auto a = std::make_unique<M>(3), b = std::make_unique<M>(3);
  a->requires_input_grad(true);
  b->requires_input_grad(true);
  Rng r(13);
  auto xs = inputs<M>(n, r, typename M::input_shapes{});
  constexpr auto seq = std::make_index_sequence<M::num_inputs>{};
  std::array<Tensor<T>, M::num_outputs> dy;
  std::array<const Tensor<T>*, M::num_outputs> dyp{};
  for (std::size_t step = 0; step < 2; ++step) {
    for (auto* m : {a.get(), b.get()}) {
      plan::poison_enabled() = m == b.get();
      m->zero_grad();
      run(*m, xs, seq);
      for (std::size_t o = 0; o < M::num_outputs; ++o) {
        if (m == a.get()) {
          dy[o].resize(m->output(o).shape());
          fill(dy[o], r);
        }
        dyp[o] = &dy[o];
      }
      m->backward_ptrs(dyp);
    }
    plan::poison_enabled() = true;
    for (std::size_t o = 0; o < M::num_outputs; ++o)
      CHECK(std::memcmp(a->output(o).data(), b->output(o).data(), a->output(o).size() * sizeof(T)) == 0);
    const auto pa = a->parameters(), pb = b->parameters();
    std::size_t differ = 0, nan = 0;
    for (std::size_t i = 0; i < pa.size; ++i) {
      differ += std::memcmp(&pa.grad[i], &pb.grad[i], sizeof(T)) != 0;
      nan += pa.grad[i] != pa.grad[i];
    }
    CHECK(differ == 0);
    CHECK(nan == 0);
    CHECK(b->workspace_bytes() == train_scratch_of<typename M::net_type>() * n * sizeof(T));
    for (std::size_t k = 0; k < M::num_inputs; ++k)
      CHECK(std::memcmp(a->input_grad(k).data(), b->input_grad(k).data(),
                        a->input_grad(k).size() * sizeof(T)) == 0);
  }
}
}  // namespace

TEST_CASE("training plan: no backward reads a value it let die (poisoned vs plain)") {
  namespace zm = zoo::models;
  using Noise = Shape<zm::gan_noise_dim>;
  using Label = Shape<zm::gan_num_classes>;
  check_training<BasicModel<double, Skips, Shape<24>, Shape<8>>>("skips", 5);
  check_training<Model<zm::MlpAutoencoder, Shape<784>>>("mlp_ae", 4);
  check_training<Model<zm::ConvAutoencoder, Shape<1, 28, 28>>>("conv_ae", 3);
  check_training<Model<zm::VaeMse, Shape<784>>>("vae_mse", 4);
  check_training<Model<zm::VaeBce, Shape<784>>>("vae_bce", 4);
  check_training<Model<zm::MlpGenerator, Noise>>("gan_mlp.G", 3);
  check_training<Model<zm::MlpDiscriminator, Shape<784>>>("gan_mlp.D", 3);
  check_training<Model<zm::DcGenerator, Noise>>("dcgan.G", 2);
  check_training<Model<zm::DcDiscriminator, Shape<1, 28, 28>>>("dcgan.D", 2);
  check_training<Model<zm::CondDcGenerator, Noise, Label>>("cdcgan.G", 2);
  check_training<Model<zm::CondDcDiscriminator, Shape<1, 28, 28>, Label>>("cdcgan.D", 2);
  check_training<zm::LeNetModel>("lenet", 3);
  check_training<zm::diffusion::ContextUnetModel<1, 28, 16, 10>>("context_unet nf16", 2);
  using In = Shape<3, 64, 64>;
  check_training<Model<yolo::YOLOv5n<10>, In>>("yolov5n", 2);
  check_training<Model<yolo::YOLOv5nAKConv<10, 3>, In>>("yolov5n_akconv3", 2);
}

TEST_CASE("an inference model loads the training model's checkpoint and gives its outputs") {
  using M = Model<models::DcGenerator, Shape<models::gan_noise_dim>>;
  auto m = std::make_unique<M>(21);
  Rng r(4);
  auto xs = inputs<M>(6, r, typename M::input_shapes{});
  m->forward(xs[0]);  // running statistics move
  m->eval();
  const auto path = (std::filesystem::temp_directory_path() / "zoo_memory_plan_g.safetensors").string();
  save_safetensors(path, *m);
  InferenceModel<models::DcGenerator, Shape<models::gan_noise_dim>> g(99);  // other weights
  load_safetensors(path, g);
  std::filesystem::remove(path);
  const auto& a = m->forward(xs[0]);
  const auto& b = g.forward(xs[0]);
  REQUIRE(a.size() == b.size());
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST_CASE("guided sampling in chunks: each chunk is one call on those samples") {
  using M = models::diffusion::ContextUnetModel<1, 28, 16, 10>;
  auto m = std::make_unique<M>(5);
  inference_model_t<M> inf(*m);
  const auto s = models::diffusion::NoiseSchedule::linear(50);
  const std::vector<int> labels{0, 3, -1, 7, 9, 1, 2};
  using D = models::diffusion::UnetDenoiser<inference_model_t<M>>;
  D chunks{&inf, &s, models::diffusion::one_hot(labels, 10), 2.0, 3};  // 3 + 3 + 1 samples
  Tensor<float> x({labels.size(), 1, 28, 28}), e, part, ep;
  Rng r(8);
  fill(x, r);
  chunks(x, 37, e);
  REQUIRE(e.size() == x.size());
  double worst_whole = 0;
  for (std::size_t b = 0; b < labels.size(); b += 3) {
    const std::size_t k = std::min<std::size_t>(3, labels.size() - b);
    part.resize({k, 1, 28, 28});
    std::copy_n(x.sample(b), k * 784, part.data());
    D one{&inf, &s,
          models::diffusion::one_hot(std::vector<int>(labels.begin() + b, labels.begin() + b + k), 10),
          2.0};
    one(part, 37, ep);
    CHECK(std::memcmp(ep.data(), e.sample(b), k * 784 * sizeof(float)) == 0);
  }
  // One call over all seven agrees up to rounding: a sample's result need not be bit-identical
  // across batch sizes (measured: 1e-4 at most here).
  D whole{&inf, &s, models::diffusion::one_hot(labels, 10), 2.0};
  whole(x, 37, ep);
  for (std::size_t i = 0; i < e.size(); ++i)
    worst_whole = std::max(worst_whole, std::abs(double(e[i]) - double(ep[i])));
  CHECK(worst_whole < 1e-3);
}
