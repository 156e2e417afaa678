// Sequential and Graph fuse Linear + (ReLU | LeakyReLU | Tanh | Sigmoid): the Linear
// writes the activation's output directly, and intermediate gradients are written, not
// cleared and then added. The same network as a Graph whose activations are hidden
// behind a plain wrapper (so nothing fuses and every gradient is cleared and added)
// must give the same outputs and the same gradients — on one thread and on two, with
// layers large enough for the threaded GEMM to split its output both by rows and by columns.
#include <doctest/doctest.h>

#include <cmath>
#include <zoo/zoo.hpp>

using namespace zoo;

namespace {

// An activation with only forward and backward: no fn, no y_only, no backward_overwrite.
template <class Act>
struct Plain {
  template <class T, class In>
  struct bind {
    using Inner = bind_t<Act, T, In>;
    using input_shape = In;
    using output_shape = typename Inner::output_shape;
    Inner inner;
    void forward(const T* x, T* y, std::size_t n) { inner.forward(x, y, n); }
    void backward(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
      inner.backward(x, y, dy, dx, n);
    }
  };
};

template <class A, class B, class T>
double max_diff(A& a, B& b, const Tensor<T>& ya, const Tensor<T>& yb) {
  double worst = 0;
  for (std::size_t i = 0; i < ya.size(); ++i)
    worst = std::max(worst, std::abs(double(ya[i]) - double(yb[i])));
  auto pa = a.parameters();
  auto pb = b.parameters();
  for (std::size_t i = 0; i < pa.size; ++i)
    worst = std::max(worst, std::abs(double(pa.grad[i]) - double(pb.grad[i])));
  return worst;
}

template <class T, class Act, std::size_t H, std::size_t O, std::size_t In = 300>
void check_chain(std::size_t n, int threads) {
  using S = Sequential<Linear<H>, Act, Linear<O>, Act, Linear<7>, SiLU, Linear<5>>;
  using G = Graph<Node<"0", Linear<H>>, Node<"1", Plain<Act>>, Node<"2", Linear<O>>,
                  Node<"3", Plain<Act>>, Node<"4", Linear<7>>, Node<"5", SiLU>, Node<"6", Linear<5>>>;
  using F = Graph<Node<"0", Linear<H>>, Node<"1", Act>, Node<"2", Linear<O>>, Node<"3", Act>,
                  Node<"4", Linear<7>>, Node<"5", SiLU>, Node<"6", Linear<5>>>;
  static_assert(bind_t<S, T, Shape<In>>::template fuses<0>() &&
                    bind_t<S, T, Shape<In>>::template fuses<2>() &&
                    !bind_t<S, T, Shape<In>>::template fuses<4>(),
                "Linear + y-only activation fuses; Linear + SiLU (needs x) does not");
  BasicModel<T, S, Shape<In>> s(5);
  BasicModel<T, G, Shape<In>> g(5);
  BasicModel<T, F, Shape<In>> f(5);
  s.requires_input_grad(true);
  g.requires_input_grad(true);
  f.requires_input_grad(true);
  Tensor<T> x({n, In}), dy({n, 5});
  Rng r(2);
  r.fill_uniform(x.data(), x.size(), -1, 1);
  r.fill_uniform(dy.data(), dy.size(), -1, 1);
  set_num_threads(threads);
  for (int rep = 0; rep < 2; ++rep) {  // the second pass reuses every buffer
    s.zero_grad();
    g.zero_grad();
    f.zero_grad();
    const auto& ys = s.forward(x);
    const auto& yg = g.forward(x);
    const auto& yf = f.forward(x);
    s.backward(dy);
    g.backward(dy);
    f.backward(dy);
    const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
    INFO(Act::template bind<T, Shape<1>>::name() << " n " << n << " threads " << threads);
    CHECK(max_diff(s, g, ys, yg) < tol);
    CHECK(max_diff(f, g, yf, yg) < tol);
    double dxw = 0, dxf = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      dxw = std::max(dxw, std::abs(double(s.input_grad()[i]) - double(g.input_grad()[i])));
      dxf = std::max(dxf, std::abs(double(f.input_grad()[i]) - double(g.input_grad()[i])));
    }
    CHECK(dxw < tol);
    CHECK(dxf < tol);
  }
  set_num_threads(1);
}

}  // namespace

TEST_CASE_TEMPLATE("fused Linear + activation equals the unfused graph", T, float, double) {
  for (int threads : {1, 2}) {
    // 256 x 400 x 300: the forward GEMMs split along N on two threads; 400 x 64: along M.
    check_chain<T, ReLU, 400, 64>(256, threads);
    check_chain<T, Tanh, 400, 64>(256, threads);
    check_chain<T, Sigmoid, 400, 64>(256, threads);
    check_chain<T, LeakyReLU<1, 5>, 64, 400>(400, threads);
    check_chain<T, ReLU, 16, 8>(3, threads);  // small: one thread, whole-matrix hooks
  }
}

TEST_CASE("fused Linear + activation on the register-tiled dense path (1024-wide float layers)") {
  static_assert(bind_t<Linear<1024>, float, Shape<1024>>::dense_possible &&
                bind_t<Linear<784>, float, Shape<1024>>::dense_possible);
  // Batch 100 (padded to 112 columns) and 128; the parallel region transposes x by
  // columns, then each thread takes whole tile rows of output features.
  for (int threads : {1, 2}) {
    check_chain<float, ReLU, 1024, 784, 1024>(100, threads);
    check_chain<float, Tanh, 1024, 784, 1024>(128, threads);
  }
}

TEST_CASE("ReLU's derivative from y equals the one from x, zeros and NaN included") {
  using L = ActivationLayer<float, Shape<6>, act::relu>;
  L l;
  const float x[6] = {-1.f, 0.f, 2.f, -0.f, std::nanf(""), 1e-30f};
  float y[6], dy[6] = {1, 1, 1, 1, 1, 1}, dx[6] = {};
  l.forward(x, y, 1);
  l.backward(x, y, dy, dx, 1);
  const float want[6] = {0, 0, 1, 0, 0, 1};  // [x > 0], as before the derivative read y
  for (int i = 0; i < 6; ++i) CHECK(dx[i] == want[i]);
}

TEST_CASE("Graph fuses a Linear node with the activation node that alone reads it") {
  using VaeLike = Graph<Node<"fc1", Linear<40>>, Node<"h1", ReLU>,           // fuses
                        Node<"mu", Linear<4>, from<"h1">>, Node<"lv", Linear<4>, from<"h1">>,
                        Node<"z", Reparameterize, from<"mu", "lv">>,          // two readers of h1
                        Node<"fc3", Linear<40>>, Node<"h3", ReLU>,           // fuses
                        Node<"fc4", Linear<30>>, Node<"out", Tanh>,          // fuses (out: output)
                        Outputs<"out", "mu", "lv">>;
  using G = bind_t<VaeLike, double, Shape<30>>;
  static_assert(G::fuses<0>() && G::fuses<5>() && G::fuses<7>());
  static_assert(!G::fuses<2>() && !G::fuses<3>() && !G::fuses<4>() && !G::fuses<6>());
  // A Linear whose output is also read elsewhere, or is an output, keeps its own pass.
  using Shared = Graph<Node<"a", Linear<8>>, Node<"r", ReLU>, Node<"b", Linear<8>, from<"a">>,
                       Node<"s", Add, from<"r", "b">>>;
  static_assert(!bind_t<Shared, double, Shape<8>>::fuses<0>());
  using Exposed = Graph<Node<"a", Linear<8>>, Node<"r", ReLU>, Outputs<"r", "a">>;
  static_assert(!bind_t<Exposed, double, Shape<8>>::fuses<0>());
}
