// Shapes, parameter counts and FLOPs are compile-time facts of a network type: these
// static_asserts are the test (this file failing to compile is the failure), and the
// run-time cases check that what the types promise is what the buffers hold.
// The rules that must NOT compile live in tests/compile_fail/.
#include <doctest/doctest.h>

#include <zoo/zoo.hpp>

using namespace zoo;

// ---------------------------------------------------------------- Shape
static_assert(Shape<784>::size == 784 && Shape<784>::rank == 1);
static_assert(Shape<3, 32, 32>::size == 3072 && Shape<3, 32, 32>::C == 3 &&
              Shape<3, 32, 32>::H == 32 && Shape<3, 32, 32>::W == 32);
static_assert(Shape<10>::C == 10 && Shape<10>::H == 1 && Shape<10>::W == 1);  // (F) is (F, 1, 1)
static_assert(is_shape_v<Shape<1>> && !is_shape_v<int>);

// ---------------------------------------------------------------- binding infers inputs
using L1 = bind_t<Linear<128>, float, Shape<784>>;
static_assert(L1::in_features == 784 && L1::out_features == 128);
static_assert(std::same_as<L1::output_shape, Shape<128>>);
static_assert(L1::num_params == 784 * 128 + 128);
static_assert(L1::flops == 2.0 * 784 * 128 + 128);
static_assert(bind_t<Linear<10, false>, float, Shape<20>>::num_params == 200);
static_assert(bind_t<BatchNorm, float, Shape<16, 4, 4>>::num_params == 32);
static_assert(bind_t<BatchNorm, float, Shape<16, 4, 4>>::num_buffers == 33);
static_assert(std::same_as<bind_t<Flatten, float, Shape<2, 3, 4>>::output_shape, Shape<24>>);
static_assert(std::same_as<bind_t<Reshape<128, 7, 7>, float, Shape<6272>>::output_shape,
                           Shape<128, 7, 7>>);
static_assert(std::same_as<bind_t<GELU, double, Shape<3, 5, 5>>::output_shape, Shape<3, 5, 5>>);

// Concat adds channels (or features); Add/Mul broadcast a per-channel operand.
static_assert(std::same_as<bind_t<Concat, float, Shape<64, 8, 8>, Shape<32, 8, 8>>::output_shape,
                           Shape<96, 8, 8>>);
static_assert(std::same_as<bind_t<Concat, float, Shape<3>, Shape<4>, Shape<5>>::output_shape,
                           Shape<12>>);
static_assert(std::same_as<bind_t<Mul, float, Shape<64, 1, 1>, Shape<64, 8, 8>>::output_shape,
                           Shape<64, 8, 8>>);
static_assert(std::same_as<bind_t<Add, float, Shape<64, 8, 8>, Shape<64>>::output_shape,
                           Shape<64, 8, 8>>);

// ---------------------------------------------------------------- containers
// The DCGAN-style generator head of DESIGN.md, dense part only.
using Gen = Sequential<Linear<1024>, ReLU, BatchNorm, Linear<7 * 7 * 128>, ReLU, BatchNorm,
                       Reshape<128, 7, 7>>;
using GenL = bind_t<Gen, float, Shape<96>>;
static_assert(std::same_as<GenL::output_shape, Shape<128, 7, 7>>);
static_assert(GenL::num_params ==
              (96 * 1024 + 1024) + 2 * 1024 + (1024 * 6272 + 6272) + 2 * 6272);
static_assert(GenL::num_buffers == (2 * 1024 + 1) + (2 * 6272 + 1));
static_assert(std::same_as<GenL::layer_t<3>::input_shape, Shape<1024>>);

// Nested specs: a Sequential inside a Graph inside a Sequential.
using Block = Graph<Node<"h", Sequential<Linear<16>, Tanh>>, Node<"s", Add, from<"h", "input">>>;
using Deep = Sequential<Linear<16>, Block, Block, Linear<3>>;
using DeepL = bind_t<Deep, double, Shape<5>>;
static_assert(std::same_as<DeepL::output_shape, Shape<3>>);
static_assert(DeepL::num_params == (5 * 16 + 16) + 2 * (16 * 16 + 16) + (16 * 3 + 3));

// Multi-input, multi-output Graph: shapes per output, in Outputs<...> order.
using Cond = Graph<Inputs<"x", "t">, Node<"emb", Linear<8>, from<"t">>,
                   Node<"h", Linear<8>, from<"x">>, Node<"film", Mul, from<"emb", "h">>,
                   Node<"cat", Concat, from<"film", "x">>, Outputs<"cat", "emb">>;
using CondM = BasicModel<float, Cond, Shape<4>, Shape<1>>;
static_assert(CondM::num_inputs == 2 && CondM::num_outputs == 2);
static_assert(std::same_as<CondM::output_shape_at<0>, Shape<12>>);
static_assert(std::same_as<CondM::output_shape_at<1>, Shape<8>>);
static_assert(CondM::num_params == (1 * 8 + 8) + (4 * 8 + 8));
static_assert(Cond::arity == 2);

// A node may read any earlier node or input, not only its predecessor.
using Skip = Graph<Node<"a", Linear<6>>, Node<"b", ReLU>, Node<"c", Linear<6>, from<"input">>,
                   Node<"d", Concat, from<"a", "b", "c">>>;
static_assert(std::same_as<bind_t<Skip, float, Shape<2>>::output_shape, Shape<18>>);

// FLOPs add up through containers.
static_assert(bind_t<Sequential<Linear<4>, Linear<2>>, float, Shape<3>>::flops ==
              (2.0 * 3 * 4 + 4) + (2.0 * 4 * 2 + 2));

TEST_CASE("buffers have the sizes the types promise") {
  Model<Deep, Shape<5>> m(1);
  auto p = m.parameters();
  CHECK(p.size == Model<Deep, Shape<5>>::num_params);
  std::size_t named = 0;
  for (auto& t : m.named_parameters()) {
    std::size_t prod = 1;
    for (auto d : t.shape) prod *= d;
    CHECK(prod == t.size);
    CHECK(t.data >= p.data);
    CHECK(t.data + t.size <= p.data + p.size);
    named += t.size;
  }
  CHECK(named == p.size);  // every parameter is named exactly once
  Tensor<float> x({3, 5});
  x.fill(0.1f);
  CHECK(m.forward(x).shape_str() == "(3, 3)");
}

TEST_CASE("named views tile the flat storage in order, with no gaps or overlaps") {
  Model<Gen, Shape<96>> g(0);
  auto p = g.parameters();
  const float* next = p.data;
  for (auto& t : g.named_parameters()) {
    CHECK(t.data == next);
    CHECK(t.grad == p.grad + (t.data - p.data));
    next = t.data + t.size;
  }
  CHECK(next == p.data + p.size);
  const float* b = g.buffer_data();
  for (auto& t : g.named_buffers()) {
    CHECK(t.data == b);
    b += t.size;
  }
  CHECK(b == g.buffer_data() + g.buffer_size());
  CHECK(g.named_buffers().size() == 6);
}

TEST_CASE("a multi-output graph returns each output with its own shape") {
  CondM m(4);
  Tensor<float> x({2, 4}), t({2, 1});
  x.fill(1), t.fill(0.5f);
  m.forward(x, t);
  CHECK(m.output(0).shape_str() == "(2, 12)");
  CHECK(m.output(1).shape_str() == "(2, 8)");
  // The Concat output ends with a copy of x.
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t k = 0; k < 4; ++k) CHECK(m.output(0)[i * 12 + 8 + k] == 1.0f);
}
