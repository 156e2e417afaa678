// AKConv against PyTorch (tests/fixtures/make_akconv_fixtures.py): the official code's
// arithmetic (AKConvSampling::reference) and zoo's clamp-to-edge default, forward output,
// offsets, BN running stats and the gradients of x, p_conv, conv.0 and conv.1, for
// N ∈ {1, 3, 5, 7, 9}, strides 1 and 2, on a non-square (2, 3, 7, 5) input whose offsets
// push ~40–55 % of the sampling coordinates outside the image. Also a zero-offset case
// per mode, where the reference doubles its edge samples and the default does not.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>
#include <zoo/layers/akconv.hpp>

#include "support/fixtures.hpp"

namespace {

using zoo::AKConvSampling;
using zoo::Shape;

template <class T, std::size_t N, std::size_t S, AKConvSampling Mode>
void check_case(const zoo::test::Fixture& f, const std::string& name, double atol, double rtol) {
  using L = zoo::bind_t<zoo::AKConv<4, N, S, Mode>, T, Shape<3, 7, 5>>;
  constexpr std::size_t B = 2;
  L layer;
  std::vector<T> params(L::num_params), grads(L::num_params, T(0)), buffers(L::num_buffers);
  T* p = params.data();
  T* g = grads.data();
  T* b = buffers.data();
  layer.bind_params(p, g);
  layer.bind_buffers(b);
  zoo::Rng rng(3);
  layer.init(rng);
  layer.resize(B);
  const auto key = [&](const std::string& k) { return name + "." + k; };
  std::map<std::string, T*> grad_of;
  layer.visit_params("", [&](const std::string& pname, const std::vector<std::size_t>& shape,
                             T* data, T* grad, std::size_t count) {
    const auto& want = f[key(pname)];
    REQUIRE(want.shape == shape);
    REQUIRE(want.values.size() == count);
    f.copy_to(key(pname), data);
    grad_of[pname] = grad;
  });
  REQUIRE(grad_of.size() == 5);

  std::vector<T> x(B * L::input_shape::size), y(B * L::output_shape::size), dy(y.size());
  std::vector<T> dx(x.size(), T(0));
  f.copy_to(key("x"), x.data());
  f.copy_to(key("dy"), dy.data());
  layer.forward(x.data(), y.data(), B);
  layer.backward(x.data(), y.data(), dy.data(), dx.data(), B);

  zoo::test::check_close(key("offset"), layer.offset.data(), f[key("offset")], atol, rtol);
  zoo::test::check_close(key("y"), y.data(), f[key("y")], atol, rtol);
  zoo::test::check_close(key("running_mean"), layer.bn.running_mean, f[key("running_mean")], atol,
                         rtol);
  zoo::test::check_close(key("running_var"), layer.bn.running_var, f[key("running_var")], atol,
                         rtol);
  zoo::test::check_close(key("dx"), dx.data(), f[key("dx")], atol, rtol);
  for (const char* pn : {"p_conv.weight", "p_conv.bias", "conv.0.weight", "conv.1.weight",
                         "conv.1.bias"})
    zoo::test::check_close(key(std::string("grad.") + pn), grad_of[pn],
                           f[key(std::string("grad.") + pn)], atol, rtol);
}

template <class T, AKConvSampling Mode>
void check_all(const char* file, double atol, double rtol) {
  const zoo::test::Fixture f(file);
  check_case<T, 1, 1, Mode>(f, "n1_s1", atol, rtol);
  check_case<T, 1, 2, Mode>(f, "n1_s2", atol, rtol);
  check_case<T, 3, 1, Mode>(f, "n3_s1", atol, rtol);
  check_case<T, 3, 2, Mode>(f, "n3_s2", atol, rtol);
  check_case<T, 5, 1, Mode>(f, "n5_s1", atol, rtol);
  check_case<T, 5, 2, Mode>(f, "n5_s2", atol, rtol);
  check_case<T, 7, 1, Mode>(f, "n7_s1", atol, rtol);
  check_case<T, 7, 2, Mode>(f, "n7_s2", atol, rtol);
  check_case<T, 9, 1, Mode>(f, "n9_s1", atol, rtol);
  check_case<T, 9, 2, Mode>(f, "n9_s2", atol, rtol);
  check_case<T, 5, 1, Mode>(f, "n5_s1_zero", atol, rtol);
  check_case<T, 4, 2, Mode>(f, "n4_s2_zero", atol, rtol);
}

}  // namespace

TEST_CASE("AKConv reference sampling matches the official PyTorch code (double)") {
  check_all<double, AKConvSampling::reference>("akconv_reference.txt", 1e-10, 1e-9);
}
TEST_CASE("AKConv clamp-to-edge sampling matches its PyTorch twin (double)") {
  check_all<double, AKConvSampling::clamp_to_edge>("akconv_default.txt", 1e-10, 1e-9);
}
TEST_CASE("AKConv in float matches the PyTorch float64 values to float precision") {
  check_all<float, AKConvSampling::reference>("akconv_reference.txt", 2e-4, 2e-3);
  check_all<float, AKConvSampling::clamp_to_edge>("akconv_default.txt", 2e-4, 2e-3);
}
TEST_CASE("the two sampling modes differ where the reference doubles edge samples") {
  // Zero offsets: the default resamples x exactly at p_0 + p_n; the reference doubles
  // the samples on the last row/column, so the fixtures' outputs must differ.
  const zoo::test::Fixture r("akconv_reference.txt"), d("akconv_default.txt");
  const auto& yr = r["n5_s1_zero.y"].values;
  const auto& yd = d["n5_s1_zero.y"].values;
  double diff = 0;
  for (std::size_t i = 0; i < yr.size(); ++i) diff = std::max(diff, std::abs(yr[i] - yd[i]));
  CHECK(diff > 1e-3);
}
