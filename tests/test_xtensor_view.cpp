// as_xtensor: an xtensor expression over a zoo tensor's own memory.
#include <doctest/doctest.h>

#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <zoo/core/xtensor.hpp>

TEST_CASE("as_xtensor shares memory and shape with the zoo tensor") {
  zoo::Tensor<float> t({2, 3, 4, 5});
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i) / 100.0f - 0.5f;
  auto v = zoo::as_xtensor(t);
  REQUIRE(v.dimension() == 4);
  CHECK(v.shape()[0] == 2);
  CHECK(v.shape()[3] == 5);
  CHECK(v(1, 2, 3, 4) == t[t.size() - 1]);
  xt::noalias(v) = xt::tanh(v) * 2.0f + 1.0f;  // fused, written into t
  CHECK(t[0] == doctest::Approx(std::tanh(-0.5f) * 2 + 1));
  CHECK(t[119] == doctest::Approx(std::tanh(1.19f - 0.5f) * 2 + 1));
}
