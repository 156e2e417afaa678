// YOLOv5 modules and networks (zoo/models/yolo/): the yaml's scaling rules, YOLOv5's
// published parameter count, gradient checks of every block in double, and Detect's
// decoding against its formula. Goldens against PyTorch are in test_yolo_golden_slow.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <ratio>
#include <set>
#include <string>
#include <vector>
#include <zoo/models/yolo/train.hpp>
#include <zoo/models/yolo/yolov5.hpp>
#include <zoo/zoo.hpp>

#include "support/gradcheck.hpp"

using namespace zoo;
namespace y = zoo::yolo;

TEST_CASE("yaml scaling: make_divisible(c * width, 8) and max(round(n * depth), 1)") {
  using W = std::ratio<1, 4>;
  static_assert(y::detail::make_divisible<64, W> == 16);
  static_assert(y::detail::make_divisible<1024, W> == 256);
  static_assert(y::detail::make_divisible<100, W> == 32);  // 25 → 32
  static_assert(y::detail::make_divisible<24, std::ratio<1, 3>> == 8);
  using D = std::ratio<33, 100>;
  static_assert(y::detail::scaled_depth<3, D> == 1);
  static_assert(y::detail::scaled_depth<6, D> == 2);
  static_assert(y::detail::scaled_depth<9, D> == 3);
  static_assert(y::detail::scaled_depth<1, D> == 1);  // round(0.33) = 0 → 1
  // Python's round is half to even: round(1.5) = 2, round(2.5) = 2.
  static_assert(y::detail::scaled_depth<3, std::ratio<1, 2>> == 2);
  static_assert(y::detail::scaled_depth<5, std::ratio<1, 2>> == 2);
  static_assert(y::detail::scaled_depth<7, std::ratio<1, 2>> == 4);
  CHECK(std::string_view(y::detail::row_name<0>.view()) == "model.0");
  CHECK(std::string_view(y::detail::row_name<24>.view()) == "model.24");
  CHECK(std::string_view(y::detail::row_name<107>.view()) == "model.107");
}

TEST_CASE("yolov5n at 640x640, nc = 80: YOLOv5's parameter count and GFLOPs") {
  using Net = bind_t<y::YOLOv5n<80>, float, Shape<3, 640, 640>>;
  // YOLOv5 v7.0 prints "1872157 parameters" for models/yolov5n.yaml, and 1867405 after
  // fusing each BatchNorm into its conv (2·C parameters become a C-wide bias).
  static_assert(Net::num_params == 1872157);
  std::size_t bn_channels = 0;
  Model<y::YOLOv5n<80>, Shape<3, 64, 64>> small(1);  // names are independent of image size
  for (auto& b : small.named_buffers())
    if (b.name.ends_with("running_mean")) bn_channels += b.size;
  CHECK(Net::num_params - bn_channels == 1867405);
  // 4.5 GFLOPs as YOLOv5 reports it (fused); zoo also counts BatchNorm and SiLU.
  CHECK(Net::flops / 1e9 == doctest::Approx(4.5).epsilon(0.02));
  using Det = y::detect_of<Net>;
  static_assert(Det::ny[0] == 80 && Det::ny[1] == 40 && Det::ny[2] == 20);
  static_assert(Det::rows == 3 * (6400 + 1600 + 400));
  static_assert(std::is_same_v<Net::output_shape, Shape<25200 * 85>>);
}

TEST_CASE("names are YOLOv5's state_dict keys, both variants") {
  Model<y::YOLOv5n<10>, Shape<3, 64, 64>> conv(1);
  Model<y::YOLOv5nAKConv<10, 5>, Shape<3, 64, 64>> ak(1);
  std::set<std::string> cn, an;
  for (auto& t : conv.state_dict()) cn.insert(t.name);
  for (auto& t : ak.state_dict()) an.insert(t.name);
  for (const char* k :
       {"model.0.conv.weight", "model.0.bn.running_var", "model.2.m.0.cv1.bn.running_mean",
        "model.2.cv3.conv.weight", "model.4.m.1.cv2.conv.weight", "model.9.cv1.conv.weight",
        "model.9.cv2.bn.num_batches_tracked", "model.24.m.0.bias", "model.24.m.2.weight",
        "model.24.anchors", "model.1.conv.weight", "model.18.bn.bias"})
    CHECK_MESSAGE(cn.count(k) == 1, k);
  for (const char* k : {"model.1.conv.0.weight", "model.1.conv.1.running_var", "model.1.p_conv.weight",
                        "model.1.p_conv.bias", "model.21.p_conv.weight", "model.7.conv.1.weight",
                        "model.0.conv.weight", "model.24.anchors"})
    CHECK_MESSAGE(an.count(k) == 1, k);
  CHECK(cn.count("model.1.p_conv.weight") == 0);
  CHECK(an.count("model.1.bn.weight") == 0);
  // C3 at depth 0.33: rows 2, 4, 6, 8 hold 1, 2, 3, 1 Bottlenecks.
  CHECK(cn.count("model.6.m.2.cv2.conv.weight") == 1);
  CHECK(cn.count("model.6.m.3.cv2.conv.weight") == 0);
  CHECK(cn.count("model.8.m.0.cv1.conv.weight") == 1);
  CHECK(cn.count("model.8.m.1.cv1.conv.weight") == 0);
}

TEST_CASE("rows grouped into nested graphs keep their names, order and wiring") {
  // yolov5n: 25 rows on 11 top-level nodes; parameters still come row by row.
  using Net = Model<y::YOLOv5n<10>, Shape<3, 64, 64>>::net_type;
  static_assert(y::num_rows_of<Net>() == 25 && Net::J < 25);
  Model<y::YOLOv5n<10>, Shape<3, 64, 64>> m(1);
  int last_row = -1;
  bool ordered = true;
  for (auto& t : m.named_parameters()) {
    const int row = std::stoi(t.name.substr(6));  // "model.<row>.…"
    ordered = ordered && row >= last_row;
    last_row = row;
  }
  CHECK(ordered);
  CHECK(last_row == 24);
  // A row that reads one source twice keeps both reads, alone in its group or not:
  // row 2 (its own group: row 1 is read only by it) concatenates row 1 with itself.
  using Dup = y::Yolo<std::ratio<1>, std::ratio<1>,                   //
                      y::Row<y::From<-1>, 1, y::Conv<8, 3, 2>>,       // 0
                      y::Row<y::From<-1>, 1, y::Conv<8, 3, 1>>,       // 1
                      y::Row<y::From<-1, -1>, 1, Concat>,             // 2: (16, 8, 8)
                      y::Row<y::From<-1>, 1, y::Conv<8, 1, 1>>,       // 3
                      y::Row<y::From<-1, 2>, 1, Concat>>;             // 4: rows 3 and 2
  using DupNet = Model<Dup, Shape<3, 16, 16>>::net_type;
  static_assert(y::row_t<DupNet, 2>::output_shape::C == 16);
  static_assert(y::row_t<DupNet, 4>::output_shape::C == 24);
  static_assert(DupNet::J < 5);  // rows 3 and 4 are one nested graph
  Model<Dup, Shape<3, 16, 16>> d(2);
  std::vector<std::string> names;
  for (auto& t : d.named_parameters()) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"model.0.conv.weight", "model.0.bn.weight",
                                          "model.0.bn.bias", "model.1.conv.weight",
                                          "model.1.bn.weight", "model.1.bn.bias",
                                          "model.3.conv.weight", "model.3.bn.weight",
                                          "model.3.bn.bias"});
  Tensor<float> x({2, 3, 16, 16});
  x.fill(0.5f);
  const auto& out = d.forward(x);
  CHECK(out.shape_str() == "(2, 24, 8, 8)");
}

TEST_CASE("YOLOv5's BatchNorm settings and Detect's initial biases") {
  Model<y::YOLOv5n<10>, Shape<3, 64, 64>> m(3);
  auto& net = m.net();
  CHECK(y::row<0>(net).get<"bn">().options.eps == doctest::Approx(1e-3));
  CHECK(y::row<0>(net).get<"bn">().options.momentum == doctest::Approx(0.03));
  Model<y::YOLOv5nAKConv<10, 3>, Shape<3, 64, 64>> a(3);
  CHECK(y::row<1>(a.net()).bn.options.eps == doctest::Approx(1e-3));
  auto& det = y::detect_layer(net);
  // The bias of the 1×1 head starts in U(±1/√C); YOLOv5 then adds log(8/(640/s)²) to the
  // objectness and log(0.6/(nc − 0.99999)) to each class.
  for (std::size_t l = 0; l < 3; ++l) {
    const double s = 8.0 * double(1 << l);
    const double c = l == 0 ? 64 : l == 1 ? 128 : 256;
    const float* b = l == 0 ? det.head<0>().bias : l == 1 ? det.head<1>().bias : det.head<2>().bias;
    for (std::size_t a2 = 0; a2 < 3; ++a2) {
      const double obj = b[a2 * 15 + 4] - std::log(8.0 / ((640.0 / s) * (640.0 / s)));
      CHECK(std::abs(obj) <= 1 / std::sqrt(c) + 1e-6);
      const double cls = b[a2 * 15 + 7] - std::log(0.6 / (10 - 0.99999));
      CHECK(std::abs(cls) <= 1 / std::sqrt(c) + 1e-6);
    }
  }
  // anchors buffer in grid units: P3's first anchor 10×13 px at stride 8.
  CHECK(det.anchors[0] == doctest::Approx(10.0 / 8));
  CHECK(det.anchors[1] == doctest::Approx(13.0 / 8));
  CHECK(det.anchors[2 * 3 * 2 + 2 * 2 + 1] == doctest::Approx(326.0 / 32));
}

TEST_CASE("gradient checks of YOLOv5's blocks in double") {
  using test::grad_check;
  test::GradCheckOptions o;
  o.batch = 2;
  o.tol = 1e-5;
  SUBCASE("Conv 3x3 stride 2") { grad_check<bind_t<y::Conv<4, 3, 2>, double, Shape<3, 7, 6>>>(o); }
  SUBCASE("Conv 6x6 stride 2 padding 2") {
    grad_check<bind_t<y::Conv<4, 6, 2, 2>, double, Shape<3, 8, 8>>>(o);
  }
  SUBCASE("Bottleneck with the residual") {
    grad_check<bind_t<y::Bottleneck<4>, double, Shape<4, 5, 5>>>(o);
  }
  SUBCASE("Bottleneck without") {
    grad_check<bind_t<y::Bottleneck<4, false>, double, Shape<4, 5, 5>>>(o);
  }
  SUBCASE("C3 with two Bottlenecks") { grad_check<bind_t<y::C3<6, 2>, double, Shape<4, 5, 4>>>(o); }
  SUBCASE("SPPF") { grad_check<bind_t<y::SPPF<6>, double, Shape<4, 6, 6>>>(o); }
  SUBCASE("YoloAKConv N = 3 stride 2") {
    grad_check<bind_t<y::YoloAKConv<4, 3, 2>, double, Shape<3, 6, 6>>>(o);
  }
  SUBCASE("Detect on three levels") {
    grad_check<bind_t<y::Detect<2>, double, Shape<3, 4, 4>, Shape<5, 2, 2>, Shape<4, 1, 1>>>(o);
  }
  SUBCASE("eval mode") {
    o.training = false;
    grad_check<bind_t<y::C3<6, 1>, double, Shape<4, 5, 4>>>(o);
  }
}

TEST_CASE("Detect decodes its training output in eval mode") {
  using L = bind_t<y::Detect<2>, double, Shape<3, 4, 4>, Shape<5, 2, 2>, Shape<4, 1, 1>>;
  static_assert(L::no == 7 && L::rows == 3 * (16 + 4 + 1));
  L det;
  std::vector<double> params(L::num_params), grads(L::num_params), bufs(L::num_buffers);
  double* p = params.data();
  double* g = grads.data();
  double* b = bufs.data();
  det.bind_params(p, g);
  det.bind_buffers(b);
  Rng rng(5);
  det.init(rng);
  const std::size_t n = 2;
  det.resize(n);
  std::vector<double> x0(n * 48), x1(n * 20), x2(n * 4);
  for (auto* v : {&x0, &x1, &x2}) rng.fill_uniform(v->data(), v->size(), -2.0, 2.0);
  std::vector<double> raw(n * L::output_shape::size), dec(raw.size());
  det.forward({x0.data(), x1.data(), x2.data()}, raw.data(), n);
  det.set_training(false);
  det.forward({x0.data(), x1.data(), x2.data()}, dec.data(), n);
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  const std::size_t nx[3] = {4, 2, 1}, cells[3] = {16, 4, 1};
  const double stride[3] = {8, 16, 32};
  std::size_t row = 0;
  for (std::size_t s = 0; s < n; ++s) {
    row = 0;
    for (std::size_t l = 0; l < 3; ++l)
      for (std::size_t a = 0; a < 3; ++a)
        for (std::size_t c = 0; c < cells[l]; ++c, ++row) {
          const double* r = raw.data() + s * L::output_shape::size + row * 7;
          const double* d = dec.data() + s * L::output_shape::size + row * 7;
          const double gx = double(c % nx[l]), gy = double(c / nx[l]);
          CHECK(d[0] == doctest::Approx((2 * sig(r[0]) - 0.5 + gx) * stride[l]).epsilon(1e-12));
          CHECK(d[1] == doctest::Approx((2 * sig(r[1]) - 0.5 + gy) * stride[l]).epsilon(1e-12));
          const double aw = y::AnchorsP5::pixels[(l * 3 + a) * 2];
          const double ah = y::AnchorsP5::pixels[(l * 3 + a) * 2 + 1];
          CHECK(d[2] == doctest::Approx(std::pow(2 * sig(r[2]), 2) * aw).epsilon(1e-12));
          CHECK(d[3] == doctest::Approx(std::pow(2 * sig(r[3]), 2) * ah).epsilon(1e-12));
          for (std::size_t o = 4; o < 7; ++o) CHECK(d[o] == doctest::Approx(sig(r[o])).epsilon(1e-12));
        }
  }
  CHECK(row == L::rows);
  std::vector<double> dy(raw.size(), 1.0), dx0(x0.size()), dx1(x1.size()), dx2(x2.size());
  CHECK_THROWS_AS(det.backward({x0.data(), x1.data(), x2.data()}, dec.data(), dy.data(),
                               {dx0.data(), dx1.data(), dx2.data()}, n),
                  std::logic_error);
}

TEST_CASE("yolov5n trains: the raw-map loss of a fixed batch falls") {
  // A stand-in loss (½‖y − target‖² on the raw maps) proves every row's backward reaches
  // the parameters; the detection loss and its goldens are test_yolo_loss.cpp's.
  Model<y::YOLOv5nAKConv<3, 3>, Shape<3, 32, 32>> m(7);
  Tensor<float> x({4, 3, 32, 32});
  Rng rng(9);
  rng.fill_uniform(x.data(), x.size(), 0.0f, 1.0f);
  zoo::Adam opt(m.parameters(), {.lr = 1e-2});
  Tensor<float> dy;
  float first = 0, last = 0;
  for (int it = 0; it < 30; ++it) {
    m.zero_grad();
    const auto& out = m.forward(x);
    dy.resize(out.shape());
    float loss = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      const float t = float((i % 7) == 0) - 0.5f;
      dy.data()[i] = out.data()[i] - t;
      loss += 0.5f * dy.data()[i] * dy.data()[i];
    }
    m.backward(dy);
    opt.step();
    if (it == 0) first = loss;
    last = loss;
  }
  CHECK(std::isfinite(last));
  CHECK(last < 0.5f * first);
}

TEST_CASE("YOLOv5's optimizer groups and gradient clipping") {
  Model<y::C3<8, 1>, Shape<4, 6, 6>> m(1);
  y::GroupSGD<float> opt(m, {});
  // biases (BN biases), conv weights (rank 4), BN weights (rank 1)
  CHECK(opt.group_size(0) == 4 + 4 + 8 + 4 + 4);
  CHECK(opt.group_size(2) == opt.group_size(0));
  CHECK(opt.group_size(1) == decltype(m)::net_type::num_params - 2 * opt.group_size(0));
  auto ps = m.parameters();
  for (std::size_t i = 0; i < ps.size; ++i) ps.grad[i] = 1.0f;
  const double norm = opt.clip_grad_norm(2.0);
  CHECK(norm == doctest::Approx(std::sqrt(double(ps.size))));
  double sq = 0;
  for (std::size_t i = 0; i < ps.size; ++i) sq += double(ps.grad[i]) * ps.grad[i];
  CHECK(std::sqrt(sq) == doctest::Approx(2.0).epsilon(1e-5));
  CHECK(opt.clip_grad_norm(100.0) == doctest::Approx(2.0).epsilon(1e-5));  // below: unchanged
  CHECK(ps.grad[0] == doctest::Approx(2.0 / std::sqrt(double(ps.size))).epsilon(1e-5));
}
