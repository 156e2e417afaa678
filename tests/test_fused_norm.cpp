// BatchNorm fused with the activation after it (Graph runs conv → bn → act as conv →
// bn+act when the act alone reads the bn): forward_then and backward_then against the
// two layers run apart, in float and double, train and eval, for maps of one SIMD vector,
// several, a remainder and BatchNorm1d; backward_overwrite against backward into a
// cleared dx; and the graph's choice to fuse and the buffers it then drops.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>
#include <zoo/models/yolo/modules.hpp>
#include <zoo/zoo.hpp>

using namespace zoo;

namespace {

template <class T, class L>
struct Bound {
  L l;
  std::vector<T> p = std::vector<T>(2 * L::num_params), buf = std::vector<T>(L::num_buffers);
  explicit Bound(std::size_t n, bool training) {
    T* pp = p.data();
    T* gp = pp + L::num_params;
    l.bind_params(pp, gp);
    T* bp = buf.data();
    l.bind_buffers(bp);
    Rng r(5);
    l.init(r);
    for (std::size_t c = 0; c < L::C; ++c) {
      l.weight[c] = T(0.5 + 0.1 * double(c)), l.bias[c] = T(0.2 * double(c) - 0.3);
      l.running_mean[c] = T(0.1 * double(c)), l.running_var[c] = T(1.5 + 0.2 * double(c));
    }
    l.set_training(training);
    l.resize(n);
  }
  const T* dweight() const { return p.data() + L::num_params; }
};

template <class T>
std::vector<T> values(std::size_t len, unsigned seed, double offset) {
  Rng r(seed);
  std::vector<T> v(len);
  for (auto& x : v) x = static_cast<T>(offset + r.uniform(-2.0, 2.0));
  return v;
}

// bn → act apart (act's backward_overwrite into the bn's output gradient, then the bn's
// backward) against forward_then / backward_then: the same values.
template <class T, class Sh, class Act>
void fused_matches_apart(bool training, bool overwrite) {
  using BL = bind_t<BatchNorm, T, Sh>;
  using AL = bind_t<Act, T, Sh>;
  constexpr std::size_t n = 3, len = n * Sh::size;
  Bound<T, BL> a(n, training), f(n, training);
  AL act;
  const auto x = values<T>(len, 11, 0.3), dz = values<T>(len, 12, 0.0), pre = values<T>(len, 13, 1.0);
  std::vector<T> y(len), z(len), zf(len), dy(len), dx(len), dxf(len);
  a.l.forward(x.data(), y.data(), n);
  act.forward(y.data(), z.data(), n);
  f.l.template forward_then<typename AL::fn>(x.data(), zf.data(), n);
  act.backward_overwrite(y.data(), z.data(), dz.data(), dy.data(), n);
  dx = pre, dxf = pre;
  a.l.backward(x.data(), y.data(), dy.data(), dx.data(), n);
  if (overwrite) {
    std::fill(dxf.begin(), dxf.end(), T(77));  // whatever was there is replaced
    f.l.template backward_then<typename AL::fn, true>(x.data(), dz.data(), dxf.data(), n);
    for (std::size_t i = 0; i < len; ++i) dxf[i] += pre[i];
  } else {
    f.l.template backward_then<typename AL::fn, false>(x.data(), dz.data(), dxf.data(), n);
  }
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  for (std::size_t i = 0; i < len; ++i) {
    REQUIRE(std::abs(double(z[i]) - double(zf[i])) <= tol * (1 + std::abs(double(z[i]))));
    REQUIRE(std::abs(double(dx[i]) - double(dxf[i])) <= tol * (1 + std::abs(double(dx[i]))));
  }
  for (std::size_t j = 0; j < 2 * Sh::C; ++j)  // dweight, dbias
    CHECK(std::abs(double(a.dweight()[j]) - double(f.dweight()[j])) <=
          tol * (1 + std::abs(double(a.dweight()[j]))));
  for (std::size_t c = 0; c < Sh::C; ++c) CHECK(a.l.running_var[c] == f.l.running_var[c]);
}

template <class T, class Sh>
void all_acts() {
  for (bool training : {true, false})
    for (bool overwrite : {true, false}) {
      CAPTURE(training);
      CAPTURE(overwrite);
      fused_matches_apart<T, Sh, SiLU>(training, overwrite);
      fused_matches_apart<T, Sh, ReLU>(training, overwrite);
      fused_matches_apart<T, Sh, LeakyReLU<1, 10>>(training, overwrite);
      fused_matches_apart<T, Sh, GELU>(training, overwrite);
    }
}

}  // namespace

TEST_CASE("BatchNorm + activation fused: the same outputs and gradients as apart") {
  all_acts<float, Shape<3, 4, 4>>();    // one AVX-512 vector of floats a run
  all_acts<float, Shape<2, 8, 8>>();    // several
  all_acts<float, Shape<3, 5, 3>>();    // a remainder
  all_acts<double, Shape<2, 5, 3>>();
  all_acts<double, Shape<4>>();         // BatchNorm1d
}

TEST_CASE("BatchNorm: backward_overwrite writes what backward adds") {
  using BL = bind_t<BatchNorm, float, Shape<3, 4, 4>>;
  constexpr std::size_t n = 2, len = n * 48;
  for (bool training : {true, false}) {
    Bound<float, BL> a(n, training);
    const auto x = values<float>(len, 1, 0.2), dy = values<float>(len, 2, 0.0),
               pre = values<float>(len, 3, 1.0);
    std::vector<float> y(len), dx = pre, dxo(len, 123.0f);
    a.l.forward(x.data(), y.data(), n);
    a.l.backward(x.data(), y.data(), dy.data(), dx.data(), n);
    a.l.frozen = true;
    a.l.backward_overwrite(x.data(), y.data(), dy.data(), dxo.data(), n);
    for (std::size_t i = 0; i < len; ++i) REQUIRE(std::abs(dx[i] - pre[i] - dxo[i]) < 1e-5f);
  }
}

TEST_CASE("Graph fuses YOLOv5's conv → bn → act, and drops the bn's buffers") {
  using G = typename yolo::Conv<16, 3>::template bind<float, Shape<8, 8, 8>>;
  static_assert(G::fuses_norm<1>(), "the bn node fuses with the act node");
  static_assert(!G::fuses_norm<0>() && !G::fuses_norm<2>());
  // A bn whose output is also read by another node is not fused.
  using Two = Graph<Node<"bn", BatchNorm>, Node<"act", SiLU>, Node<"sum", Add, from<"bn", "act">>>;
  using T2 = typename Two::template bind<float, Shape<4, 4, 4>>;
  static_assert(!T2::fuses_norm<0>());
  // The bn's value is never written: not kept, no room in either plan. The conv's is kept
  // (backward_then reads it); the act's is the graph's output, in the caller's buffer.
  static_assert(G::saved<0>() && !G::saved<1>() && !G::saved<2>());
  static_assert(G::train_fwd_nodes().out[1] == 0 && G::train_bwd_nodes().out[G::J - 1 - 1] == 0);
  G g;
  g.resize(4);
  CHECK(g.act[0].size() == 4 * 16 * 64);
  CHECK(g.act[1].size() == 0);
  CHECK(g.act[2].size() == 0);
}
