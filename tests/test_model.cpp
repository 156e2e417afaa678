// Model: storage, names, modes, freezing, multi-input/output graphs, and that a
// steady-state training step allocates nothing.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <zoo/zoo.hpp>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// Counts every operator new in the process (the aligned forms included).
static std::atomic<long> g_allocs{0};
void* operator new(std::size_t n) {
  ++g_allocs;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  ++g_allocs;
  if (void* p = std::aligned_alloc(static_cast<std::size_t>(a), (n + static_cast<std::size_t>(a) - 1) / static_cast<std::size_t>(a) * static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace zoo;

using MLP = Sequential<Linear<32>, ReLU, BatchNorm, Linear<16>, Tanh, Linear<4>>;

TEST_CASE("parameter names, counts and shapes follow PyTorch's state_dict") {
  Model<MLP, Shape<8>> m(3);
  static_assert(decltype(m)::num_params == 8 * 32 + 32 + 64 + 32 * 16 + 16 + 16 * 4 + 4);
  static_assert(std::same_as<decltype(m)::output_shape, Shape<4>>);
  const auto sd = m.state_dict();
  std::vector<std::string> names;
  for (auto& t : sd) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "3.weight",
                                          "3.bias", "5.weight", "5.bias", "2.running_mean",
                                          "2.running_var", "2.num_batches_tracked"});
  CHECK(sd[0].shape == std::vector<std::size_t>{32, 8});
  // PyTorch's init: U(±1/√fan_in) for Linear, ones/zeros for BatchNorm.
  const double bound = 1 / std::sqrt(8.0);
  for (std::size_t i = 0; i < sd[0].size; ++i) CHECK(std::abs(sd[0].data[i]) <= bound);
  CHECK(sd[2].data[0] == 1.0f);
  CHECK(sd[3].data[0] == 0.0f);
}

TEST_CASE("same seed, same parameters; different seed, different parameters") {
  Model<MLP, Shape<8>> a(5), b(5), c(6);
  auto pa = a.parameters(), pb = b.parameters(), pc = c.parameters();
  CHECK(std::equal(pa.data, pa.data + pa.size, pb.data));
  CHECK(!std::equal(pa.data, pa.data + pa.size, pc.data));
}

TEST_CASE("nested specs name their parameters by path") {
  using Net = Graph<Node<"encoder", Sequential<Linear<4>, ReLU, Linear<2>>>,
                    Node<"decoder", Sequential<Linear<4>, ReLU, Linear<8>, Tanh>>>;
  Model<Net, Shape<8>> m;
  std::vector<std::string> names;
  for (auto& t : m.named_parameters()) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"encoder.0.weight", "encoder.0.bias", "encoder.2.weight",
                                          "encoder.2.bias", "decoder.0.weight", "decoder.0.bias",
                                          "decoder.2.weight", "decoder.2.bias"});
  auto& enc = m.get<"encoder">();
  CHECK(enc.get<2>().out_features == 2);
}

TEST_CASE("a node named \"_...\" lends its children's names to its parent; clashes throw") {
  using Inner = Graph<Node<"a", Linear<4>>, Node<"b", Linear<3>>>;
  using Net = Graph<Node<"first", Linear<5>>, Node<"_mid", Inner>, Node<"last", Linear<2>>>;
  Model<Net, Shape<6>> m(4);
  std::vector<std::string> names;
  for (auto& t : m.named_parameters()) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"first.weight", "first.bias", "a.weight", "a.bias",
                                          "b.weight", "b.bias", "last.weight", "last.bias"});
  CHECK(m.get<"_mid">().get<"b">().out_features == 3);
  // The same values as the flat graph with the same seed: init order is unchanged.
  using Flat = Graph<Node<"first", Linear<5>>, Node<"a", Linear<4>>, Node<"b", Linear<3>>,
                     Node<"last", Linear<2>>>;
  Model<Flat, Shape<6>> f(4);
  auto pm = m.parameters(), pf = f.parameters();
  REQUIRE(pm.size == pf.size);
  CHECK(std::equal(pm.data, pm.data + pm.size, pf.data));

  using Clash = Graph<Node<"_x", Inner>, Node<"_y", Inner>>;
  try {
    Model<Clash, Shape<6>> bad;
    FAIL("two \"_\" nodes with the same child names must not build");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("'a.bias'") != std::string::npos);
  }
}

TEST_CASE("a Graph chain computes the same as the equivalent Sequential") {
  using S = Sequential<Linear<6>, Tanh, Linear<3>>;
  using G = Graph<Node<"0", Linear<6>>, Node<"1", Tanh>, Node<"2", Linear<3>>>;
  Model<S, Shape<5>> s(11);
  Model<G, Shape<5>> g(11);
  Tensor<float> x({4, 5});
  Rng r(1);
  r.fill_uniform(x.data(), x.size(), -1, 1);
  const auto& ys = s.forward(x);
  const auto& yg = g.forward(x);
  for (std::size_t i = 0; i < ys.size(); ++i) CHECK(ys[i] == doctest::Approx(yg[i]).epsilon(1e-6));
}

TEST_CASE("multi-input, multi-output graph: forward values and gradients reach every input") {
  using G = Graph<Inputs<"x", "c">, Node<"h", Linear<3>, from<"x">>, Node<"e", Linear<3>, from<"c">>,
                  Node<"p", Mul, from<"h", "e">>, Outputs<"p", "h">>;
  BasicModel<double, G, Shape<2>, Shape<4>> m(2);
  Tensor<double> x({2, 2}), c({2, 4});
  x.fill(0.5), c.fill(-0.25);
  m.forward(x, c);
  CHECK(m.output(0).shape_str() == "(2, 3)");
  CHECK(m.output(1).shape_str() == "(2, 3)");
  for (std::size_t i = 0; i < 6; ++i) {
    const double h = m.output(1)[i];
    CHECK(m.output(0)[i] != doctest::Approx(h));
  }
  m.requires_input_grad(true);
  Tensor<double> d0({2, 3}), d1({2, 3});
  d0.fill(1), d1.fill(0);
  m.backward(d0, d1);
  double sx = 0, sc = 0;
  for (double v : m.input_grad(0)) sx += std::abs(v);
  for (double v : m.input_grad(1)) sc += std::abs(v);
  CHECK(sx > 0);
  CHECK(sc > 0);
}

TEST_CASE("wrong input shapes are clear run-time errors") {
  Model<MLP, Shape<8>> m;
  Tensor<float> x({4, 7});
  CHECK_THROWS_WITH_AS(m.forward(x), doctest::Contains("has shape (4, 7), but the model expects (N, 8)"),
                       std::invalid_argument);
  Tensor<float> dy({4, 4});
  CHECK_THROWS_AS(m.backward(dy), std::logic_error);
}

TEST_CASE("BatchNorm: train uses batch statistics and updates running ones; eval uses running") {
  Model<Sequential<BatchNorm>, Shape<2>> m;
  Tensor<float> x({4, 2});
  for (std::size_t i = 0; i < 4; ++i) x[2 * i] = static_cast<float>(i), x[2 * i + 1] = 10.f;
  m.train();
  const auto& y = m.forward(x);
  CHECK(y[0] == doctest::Approx(-1.3416).epsilon(1e-3));
  auto bufs = m.named_buffers();
  CHECK(bufs[0].data[0] == doctest::Approx(0.15));           // 0.1 · mean 1.5
  CHECK(bufs[1].data[0] == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0));  // unbiased var
  CHECK(bufs[2].data[0] == 1.0f);
  m.eval();
  const auto& ye = m.forward(x);
  CHECK(ye[2] == doctest::Approx((1.0 - 0.15) / std::sqrt(0.9 + 0.5 / 3.0 + 1e-5)).epsilon(1e-4));
  CHECK(bufs[2].data[0] == 1.0f);  // eval leaves the counter alone
}

TEST_CASE("freezing: no parameter gradients, but the input gradient still flows") {
  Model<MLP, Shape<8>> d(1);
  d.requires_input_grad(true);
  Tensor<float> x({4, 8}), dy({4, 4});
  Rng r(9);
  r.fill_uniform(x.data(), x.size(), -1, 1);
  r.fill_uniform(dy.data(), dy.size(), -1, 1);
  d.freeze();
  d.forward(x);
  d.backward(dy);
  auto p = d.parameters();
  CHECK(std::all_of(p.grad, p.grad + p.size, [](float g) { return g == 0.0f; }));
  double s = 0;
  for (float v : d.input_grad()) s += std::abs(v);
  CHECK(s > 0);
  d.unfreeze();
  d.forward(x);
  d.backward(dy);
  CHECK(std::any_of(p.grad, p.grad + p.size, [](float g) { return g != 0.0f; }));
}

TEST_CASE("a steady-state training step allocates nothing") {
  Model<MLP, Shape<8>> m(1);
  Adam opt(m.parameters(), {.lr = 1e-3});
  Tensor<float> x({16, 8}), t({16, 4}), dy;
  Rng r(3);
  r.fill_uniform(x.data(), x.size(), -1, 1);
  r.fill_uniform(t.data(), t.size(), -1, 1);
  auto step = [&] {
    m.zero_grad();
    const float l = mse_loss(m.forward(x), t, &dy);
    m.backward(dy);
    opt.step();
    return l;
  };
  step();  // the first step sizes every buffer
  const long before = g_allocs.load();
  for (int i = 0; i < 5; ++i) step();
  CHECK(g_allocs.load() - before == 0);
}
