// Golden values of the core layers against PyTorch 1.13 (tests/fixtures/core_layers.txt,
// written by tests/fixtures/make_core_fixtures.py). Weights, inputs and upstream
// gradients all come from the fixture; each layer runs in float and in double, with
// per-tensor tolerances, and is checked on y, dx and every parameter gradient.
#include <doctest/doctest.h>

#include <string>
#include <vector>
#include <zoo/zoo.hpp>

#include "support/fixtures.hpp"

using namespace zoo;
using zoo::test::check_close;
using zoo::test::Fixture;

namespace {

const Fixture& fx() {
  static const Fixture f("core_layers.txt");
  return f;
}

// Tolerances per scalar type: double should agree with PyTorch's float64 to rounding.
template <class T>
struct Tol {
  static constexpr double atol = std::is_same_v<T, double> ? 1e-11 : 2e-6;
  static constexpr double rtol = std::is_same_v<T, double> ? 1e-10 : 2e-5;
};

template <class T>
std::vector<T> load(const std::string& key) {
  const auto& g = fx()[key];
  return std::vector<T>(g.values.begin(), g.values.end());
}

template <class T>
void close(const std::string& key, const std::vector<T>& got, double scale = 1) {
  REQUIRE(got.size() == fx()[key].values.size());
  check_close(key, got.data(), fx()[key], Tol<T>::atol * scale, Tol<T>::rtol * scale);
}

// A bound layer with its own flat parameter, gradient and buffer storage, run
// through the layer contract exactly as a container runs it.
template <class L, class T>
struct Harness {
  static constexpr std::size_t P = num_params_of<L>();
  static constexpr std::size_t B = num_buffers_of<L>();
  L layer;
  std::vector<T> params = std::vector<T>(P + 1), grads = std::vector<T>(P + 1),
                 buffers = std::vector<T>(B + 1);
  std::size_t n;
  explicit Harness(std::size_t batch) : n(batch) {
    T* p = params.data();
    T* g = grads.data();
    T* b = buffers.data();
    layer_ops::bind_params(layer, p, g);
    layer_ops::bind_buffers(layer, b);
    Rng r(0);
    layer_ops::init(layer, r);
    layer_ops::resize(layer, n);
  }
  std::vector<T> forward(const std::vector<T>& x) {
    std::vector<T> y(n * L::output_shape::size);
    layer.forward(x.data(), y.data(), n);
    return y;
  }
  // Returns dx; parameter gradients land in `grads` (zeroed first).
  std::vector<T> backward(const std::vector<T>& x, const std::vector<T>& y,
                          const std::vector<T>& dy) {
    std::fill(grads.begin(), grads.end(), T(0));
    std::vector<T> dx(x.size(), T(0));
    layer.backward(x.data(), y.data(), dy.data(), dx.data(), n);
    return dx;
  }
  std::vector<T> grad_slice(std::size_t off, std::size_t count) const {
    return std::vector<T>(grads.begin() + off, grads.begin() + off + count);
  }
  std::vector<T> buffer_slice(std::size_t off, std::size_t count) const {
    return std::vector<T>(buffers.begin() + off, buffers.begin() + off + count);
  }
};

template <class T, class Spec, class In>
void check_activation(const std::string& name) {
  Harness<bind_t<Spec, T, In>, T> h(4);
  const auto x = load<T>("act.x");
  const auto y = h.forward(x);
  close<T>(name + ".y", y);
  close<T>(name + ".dx", h.backward(x, y, load<T>("act.dy")));
}

// Binary layers: forward/backward over std::array of operand pointers.
template <class T, class L>
void check_binary(const std::string& name, const std::string& ka, const std::string& kb) {
  constexpr std::size_t n = 2;
  L layer;
  const auto a = load<T>(ka), b = load<T>(kb), dy = load<T>("bin.dy");
  std::vector<T> y(n * L::output_shape::size);
  layer.forward({a.data(), b.data()}, y.data(), n);
  close<T>(name + ".y", y);
  std::vector<T> da(a.size(), T(0)), db(b.size(), T(0));
  layer.backward({a.data(), b.data()}, y.data(), dy.data(), {da.data(), db.data()}, n);
  close<T>(name + ".d" + ka.substr(4), da);
  close<T>(name + ".d" + kb.substr(4), db);
}

}  // namespace

TEST_CASE_TEMPLATE("Linear matches nn.Linear", T, float, double) {
  using L = bind_t<Linear<3>, T, Shape<5>>;
  Harness<L, T> h(4);
  auto w = load<T>("linear.weight"), b = load<T>("linear.bias");
  std::copy(w.begin(), w.end(), h.params.begin());
  std::copy(b.begin(), b.end(), h.params.begin() + 15);
  const auto x = load<T>("linear.x");
  const auto y = h.forward(x);
  close<T>("linear.y", y);
  close<T>("linear.dx", h.backward(x, y, load<T>("linear.dy")));
  close<T>("linear.dweight", h.grad_slice(0, 15));
  close<T>("linear.dbias", h.grad_slice(15, 3));
}

TEST_CASE_TEMPLATE("activations match torch.nn (0, saturation and the GELU erf form)", T, float,
                   double) {
  using In = Shape<8>;
  check_activation<T, ReLU, In>("relu");
  check_activation<T, LeakyReLU<1, 5>, In>("leaky_relu");
  check_activation<T, Tanh, In>("tanh");
  check_activation<T, Sigmoid, In>("sigmoid");
  check_activation<T, GELU, In>("gelu");
  check_activation<T, SiLU, In>("silu");
}

template <class T, class In>
void check_batch_norm(const std::string& tag, std::size_t n) {
  using L = bind_t<BatchNorm, T, In>;
  constexpr std::size_t C = In::C;
  Harness<L, T> h(n);
  fx().copy_to(tag + ".weight", h.params.data());
  fx().copy_to(tag + ".bias", h.params.data() + C);
  fx().copy_to(tag + ".running_mean0", h.buffers.data());
  fx().copy_to(tag + ".running_var0", h.buffers.data() + C);

  // Train: batch statistics, running statistics updated with momentum 0.1 and the
  // unbiased variance.
  h.layer.set_training(true);
  const auto x = load<T>(tag + ".x"), dy = load<T>(tag + ".dy");
  const auto y = h.forward(x);
  close<T>(tag + ".train_y", y, 10);
  close<T>(tag + ".running_mean1", h.buffer_slice(0, C));
  close<T>(tag + ".running_var1", h.buffer_slice(C, C));
  CHECK(h.buffers[2 * C] == T(1));
  close<T>(tag + ".train_dx", h.backward(x, y, dy), 10);
  close<T>(tag + ".train_dweight", h.grad_slice(0, C), 10);
  close<T>(tag + ".train_dbias", h.grad_slice(C, C));

  // Eval: the updated running statistics normalize, and backward is affine.
  h.layer.set_training(false);
  const auto x2 = load<T>(tag + ".eval_x");
  const auto y2 = h.forward(x2);
  close<T>(tag + ".eval_y", y2);
  close<T>(tag + ".eval_dx", h.backward(x2, y2, dy));
  close<T>(tag + ".eval_dweight", h.grad_slice(0, C));
  close<T>(tag + ".eval_dbias", h.grad_slice(C, C));
  close<T>(tag + ".running_mean1", h.buffer_slice(0, C));  // eval leaves them alone
  CHECK(h.buffers[2 * C] == T(1));
}

TEST_CASE_TEMPLATE("BatchNorm matches nn.BatchNorm1d / BatchNorm2d in train and eval", T, float,
                   double) {
  check_batch_norm<T, Shape<4>>("bn1d", 6);
  check_batch_norm<T, Shape<2, 3, 2>>("bn2d", 3);
}

TEST_CASE_TEMPLATE("Add and Mul match torch, with (N, C, 1, 1) x (N, C, H, W) broadcasting", T,
                   float, double) {
  using Img = Shape<3, 2, 2>;
  using Chan = Shape<3, 1, 1>;
  check_binary<T, bind_t<Add, T, Img, Img>>("add", "bin.a", "bin.b");
  check_binary<T, bind_t<Mul, T, Img, Img>>("mul", "bin.a", "bin.b");
  check_binary<T, bind_t<Mul, T, Chan, Img>>("mul_bcast", "bin.s", "bin.a");
  check_binary<T, bind_t<Add, T, Img, Chan>>("add_bcast", "bin.a", "bin.s");
  // A flat (C) operand broadcasts the same way as (C, 1, 1).
  check_binary<T, bind_t<Mul, T, Shape<3>, Img>>("mul_bcast", "bin.s", "bin.a");
}

TEST_CASE_TEMPLATE("Concat matches torch.cat(dim=1)", T, float, double) {
  using L = bind_t<Concat, T, Shape<2, 2, 3>, Shape<1, 2, 3>, Shape<3, 2, 3>>;
  static_assert(std::same_as<typename L::output_shape, Shape<6, 2, 3>>);
  constexpr std::size_t n = 2;
  L layer;
  const auto x0 = load<T>("cat.x0"), x1 = load<T>("cat.x1"), x2 = load<T>("cat.x2");
  std::vector<T> y(n * 36);
  layer.forward({x0.data(), x1.data(), x2.data()}, y.data(), n);
  close<T>("cat.y", y);
  std::vector<T> d0(x0.size(), T(0)), d1(x1.size(), T(0)), d2(x2.size(), T(0));
  layer.backward({x0.data(), x1.data(), x2.data()}, y.data(), load<T>("cat.dy").data(),
                 {d0.data(), d1.data(), d2.data()}, n);
  close<T>("cat.dx0", d0);
  close<T>("cat.dx1", d1);
  close<T>("cat.dx2", d2);
}

TEST_CASE_TEMPLATE("a whole nn.Sequential: same state_dict names, same values and gradients", T,
                   float, double) {
  using Net = Sequential<Linear<6>, BatchNorm, GELU, Linear<4>, Tanh, Linear<2>>;
  BasicModel<T, Net, Shape<5>> m(123);
  // Every zoo name must exist in PyTorch's state_dict, with the same size.
  std::size_t seen = 0;
  for (auto& t : m.state_dict()) {
    INFO(t.name);
    REQUIRE(fx().has("mlp." + t.name));
    REQUIRE(fx()["mlp." + t.name].values.size() == t.size);
    fx().copy_to("mlp." + t.name, t.data);
    ++seen;
  }
  CHECK(seen == 11);  // 8 parameters, 3 BatchNorm buffers
  m.train();
  m.requires_input_grad(true);
  Tensor<T> x({5, 5}), dy({5, 2});
  fx().copy_to("mlp.x", x.data());
  fx().copy_to("mlp.dy", dy.data());
  const auto& y = m.forward(x);
  check_close("mlp.y", y.data(), fx()["mlp.y"], Tol<T>::atol * 10, Tol<T>::rtol * 10);
  m.zero_grad();
  m.backward(dy);
  check_close("mlp.dx", m.input_grad().data(), fx()["mlp.dx"], Tol<T>::atol * 10,
              Tol<T>::rtol * 10);
  for (auto& t : m.named_parameters())
    check_close("mlp.grad." + t.name, t.grad, fx()["mlp.grad." + t.name], Tol<T>::atol * 10,
                Tol<T>::rtol * 10);
  for (auto& t : m.named_buffers())
    if (fx().has("mlp.after." + t.name))
      check_close("mlp.after." + t.name, t.data, fx()["mlp.after." + t.name], Tol<T>::atol,
                  Tol<T>::rtol);
}
