// Finite-difference gradient checks (double) of every core layer and container.
#include "support/gradcheck.hpp"

using namespace zoo;
using zoo::test::grad_check;
using zoo::test::GradCheckOptions;

TEST_CASE("Linear") {
  grad_check<bind_t<Linear<5>, double, Shape<7>>>();
  grad_check<bind_t<Linear<3, false>, double, Shape<4>>>();
}

TEST_CASE("activations") {
  // Keep inputs away from ReLU's kink at 0.
  GradCheckOptions away;
  away.make_input = [](std::size_t, std::vector<double>& x) {
    for (auto& v : x)
      if (std::abs(v) < 0.05) v = 0.1;
  };
  grad_check<bind_t<ReLU, double, Shape<2, 3, 3>>>(away);
  grad_check<bind_t<LeakyReLU<1, 5>, double, Shape<11>>>(away);
  grad_check<bind_t<Tanh, double, Shape<11>>>();
  grad_check<bind_t<Sigmoid, double, Shape<11>>>();
  GradCheckOptions wide;
  wide.input_lo = -3, wide.input_hi = 3;
  grad_check<bind_t<SiLU, double, Shape<11>>>(wide);
  grad_check<bind_t<GELU, double, Shape<11>>>(wide);
}

TEST_CASE("BatchNorm over features and channels, train and eval") {
  GradCheckOptions o;
  o.batch = 4;
  o.make_params = [](double* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) p[i] = 0.5 + 0.1 * static_cast<double>(i);
  };
  grad_check<bind_t<BatchNorm, double, Shape<6>>>(o);
  grad_check<bind_t<BatchNorm, double, Shape<3, 2, 2>>>(o);
  o.training = false;
  grad_check<bind_t<BatchNorm, double, Shape<3, 2, 2>>>(o);
}

TEST_CASE("Reshape, Flatten") {
  grad_check<bind_t<Reshape<2, 3, 2>, double, Shape<12>>>();
  grad_check<bind_t<Flatten, double, Shape<2, 3, 2>>>();
}

TEST_CASE("Add, Mul with and without channel broadcasting") {
  grad_check<bind_t<Add, double, Shape<3, 2, 2>, Shape<3, 2, 2>>>();
  grad_check<bind_t<Mul, double, Shape<3, 2, 2>, Shape<3, 2, 2>>>();
  grad_check<bind_t<Mul, double, Shape<3>, Shape<3, 2, 2>>>();
  grad_check<bind_t<Add, double, Shape<3, 2, 2>, Shape<3, 1, 1>>>();
  grad_check<bind_t<Mul, double, Shape<5>, Shape<5>>>();
}

TEST_CASE("Concat of images and of features") {
  grad_check<bind_t<Concat, double, Shape<2, 2, 3>, Shape<1, 2, 3>, Shape<3, 2, 3>>>();
  grad_check<bind_t<Concat, double, Shape<4>, Shape<2>>>();
}

TEST_CASE("Sequential and Graph containers") {
  grad_check<bind_t<Sequential<Linear<6>, Tanh, Linear<4>, Sigmoid, Linear<2>>, double, Shape<5>>>();
  // A node read by two consumers must receive the sum of both gradients.
  using G = Graph<Node<"a", Linear<4>>, Node<"t", Tanh>, Node<"m", Mul, from<"a", "t">>,
                  Node<"s", Add, from<"m", "input">>>;
  grad_check<bind_t<G, double, Shape<4>>>();
  using G2 = Graph<Inputs<"x", "c">, Node<"e", Linear<3>, from<"c">>, Node<"h", Linear<3>, from<"x">>,
                   Node<"f", Mul, from<"e", "h">>, Node<"o", Concat, from<"f", "x">>>;
  grad_check<bind_t<G2, double, Shape<2>, Shape<5>>>();
}
