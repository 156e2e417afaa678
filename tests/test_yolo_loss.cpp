// The YOLOv5 v7.0 loss (zoo/models/yolo/loss.hpp): its parts, total and whole gradient against
// PyTorch 1.13 float64 autograd on scripts/pytorch/yolo_loss.py (tests/fixtures/yolo_loss.txt,
// made by make_yolo_loss_fixtures.py) in double and float; build_targets' candidate list and the
// objectness targets on their own; tobj's last-write-wins; a finite-difference check of the
// analytic gradient; the hyp scaling; bad input; no allocation in the steady state.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>
#include <vector>
#include <zoo/models/yolo/loss.hpp>

#include "support/fixtures.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// Counts operator new in this program (the steady-state test below).
static std::atomic<long> g_allocs{0};
void* operator new(std::size_t n) {
  ++g_allocs;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using zoo::test::check_close;
using zoo::test::Fixture;
using zoo::test::Golden;
using namespace zoo::yolo;

namespace {

const Fixture& fx() {
  static const Fixture f("yolo_loss.txt");
  return f;
}

// One fixture case: geometry, anchors, targets, predictions; the goldens stay in the fixture.
template <class T>
struct Case {
  std::string name;
  std::size_t nc, na, nl, bs, imgsz;
  std::vector<LevelGeom> levels;
  std::vector<T> anchors, pred;
  std::vector<Target<T>> targets;

  explicit Case(const std::string& key) : name(key) {
    const auto& g = fx()[key + ".geom"].values;
    nc = static_cast<std::size_t>(g[0]), na = static_cast<std::size_t>(g[1]);
    nl = static_cast<std::size_t>(g[2]), bs = static_cast<std::size_t>(g[3]);
    imgsz = static_cast<std::size_t>(g[4]);
    for (std::size_t l = 0; l < nl; ++l)
      levels.push_back({static_cast<std::size_t>(g[5 + 2 * l]), static_cast<std::size_t>(g[6 + 2 * l])});
    for (double v : fx()[key + ".anchors"].values) anchors.push_back(static_cast<T>(v));
    for (double v : fx()[key + ".pred"].values) pred.push_back(static_cast<T>(v));
    const auto& t = fx()[key + ".targets"].values;
    for (std::size_t i = 0; i + 6 <= t.size(); i += 6)
      targets.push_back({static_cast<std::size_t>(t[i]), static_cast<int>(t[i + 1]), static_cast<T>(t[i + 2]),
                         static_cast<T>(t[i + 3]), static_cast<T>(t[i + 4]), static_cast<T>(t[i + 5])});
  }
  ComputeLoss<T> loss() const { return ComputeLoss<T>(nc, na, levels, anchors, LossHyp::scaled(nl, nc, imgsz)); }
};

// parts and total against the golden within rtol·(1 + |want|)
template <class T>
void check_parts(const std::string& key, const LossParts<T>& got, double rtol) {
  const auto& want = fx()[key + ".parts"].values;
  const double g[4] = {double(got.box), double(got.obj), double(got.cls), double(got.total)};
  const char* names[4] = {"box", "obj", "cls", "total"};
  for (int i = 0; i < 4; ++i) {
    INFO(key << " " << names[i] << ": got " << g[i] << ", PyTorch " << want[i]);
    CHECK(std::abs(g[i] - want[i]) <= rtol * (1 + std::abs(want[i])));
  }
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

template <class T>
void golden_case(const std::string& key, double rtol_parts, double grad_rel) {
  Case<T> c(key);
  auto loss = c.loss();
  REQUIRE(c.pred.size() == c.bs * loss.sample_size());
  // the gradient is written, never added: start from NaN
  std::vector<T> dpred(c.pred.size(), std::numeric_limits<T>::quiet_NaN());
  const LossParts<T> parts = loss(c.pred.data(), dpred.data(), c.bs, c.targets);
  check_parts(key, parts, rtol_parts);
  const Golden& want = fx()[key + ".grad"];
  check_close(key + ".grad", dpred.data(), want, grad_rel * max_abs(want.values), grad_rel);
  // without a gradient buffer: the same numbers
  const LossParts<T> again = loss(c.pred.data(), nullptr, c.bs, c.targets);
  CHECK(again.total == parts.total);
}

}  // namespace

TEST_CASE("golden, double: parts, total and the whole gradient match PyTorch float64 autograd") {
  // p3_nc3: 8×8/4×4/2×2 grids, YOLOv5's P3–P5 anchors, exact 0.5 offsets, gxy = 1 and just
  //   above, both borders (clamped cells, repeated candidates), a box rejected at P4/P5 (and a
  //   ratio of exactly 4), two targets on one cell, an image without targets, exact min/max ties,
  //   a prediction with no overlap (CIoU < 0); p3_nc1: the same with one class (no class loss);
  // empty: no target in the batch; other: two levels on a 8×12/4×6 grid, other anchors, nc = 2.
  for (const char* key : {"p3_nc3", "p3_nc1", "empty", "other"}) {
    const std::string k = key;
    CAPTURE(k);
    golden_case<double>(key, 1e-12, 1e-11);
  }
}

TEST_CASE("golden, float: the same fixture at float tolerance") {
  for (const char* key : {"p3_nc3", "p3_nc1", "empty", "other"}) {
    const std::string k = key;
    CAPTURE(k);
    golden_case<float>(key, 2e-6, 2e-5);
  }
}

TEST_CASE("build_targets alone: the candidate list and the objectness targets of PyTorch") {
  Case<double> c("p3_nc3");
  auto loss = c.loss();
  loss.build_targets(c.bs, c.targets);
  for (std::size_t l = 0; l < c.nl; ++l) {
    CAPTURE(l);
    const Golden& want = fx()["p3_nc3.cand." + std::to_string(l)];
    const auto got = loss.candidates(l);
    REQUIRE(got.size() == want.shape[0]);
    std::vector<double> rows;
    for (const auto& k : got)
      for (double v : {double(k.image), double(k.anchor), double(k.gj), double(k.gi), k.tx, k.ty, k.tw, k.th,
                       double(k.cls)})
        rows.push_back(v);
    check_close("p3_nc3.cand." + std::to_string(l), rows.data(), want, 0.0, 0.0);  // exact, in order
  }
  // the objectness targets (detached, clamped CIoU; last write wins) after a full call
  std::vector<double> d(c.pred.size());
  loss(c.pred.data(), d.data(), c.bs, c.targets);
  for (std::size_t l = 0; l < c.nl; ++l) {
    const Golden& want = fx()["p3_nc3.tobj." + std::to_string(l)];
    REQUIRE(loss.objectness_target(l).size() == want.values.size());
    check_close("p3_nc3.tobj." + std::to_string(l), loss.objectness_target(l).data(), want, 1e-15, 1e-13);
  }
}

TEST_CASE("build_targets: the v7.0 edge cases, spelled out") {
  // 8×8 grid, one anchor of 1×1 cell: every box of 1..3 cells is kept.
  ComputeLoss<double> loss(2, 1, {{8, 8}}, {1.0, 1.0}, LossHyp{});
  auto cells = [&](double x, double y) {
    const Target<double> t{0, 0, x, y, 0.25, 0.25};
    loss.build_targets(1, std::span(&t, 1));
    std::vector<std::pair<std::size_t, std::size_t>> out;  // (gi, gj) in order
    for (const auto& c : loss.candidates(0)) out.emplace_back(c.gi, c.gj);
    return out;
  };
  using V = std::vector<std::pair<std::size_t, std::size_t>>;
  // gx = 2.5, gy = 5.25: x % 1 == 0.5 is not < 0.5 on either side; y takes the upper cell
  CHECK(cells(2.5 / 8, 5.25 / 8) == V{{2, 5}, {2, 4}});
  // gx = 2.75: the right cell (its mirror 5.25 has % 1 < 0.5)
  CHECK(cells(2.75 / 8, 5.25 / 8) == V{{2, 5}, {2, 4}, {3, 5}});
  // gx = 1 exactly: not > 1, so no left cell; 7 = 8 − 1 takes the "right" one, trunc(1.5) = 1:
  // the centre cell again (a repeated candidate), then the lower cell
  CHECK(cells(1.0 / 8, 2.75 / 8) == V{{1, 2}, {1, 2}, {1, 3}});
  // just above 1: the left cell (0) too
  CHECK(cells(1.0 / 8 + 0x1p-30, 2.75 / 8) == V{{1, 2}, {0, 2}, {1, 3}});
  // gx = 7 = nx − 1: its mirror is exactly 1, not > 1, so no right cell; the left one (6) is taken
  CHECK(cells(7.0 / 8, 2.75 / 8) == V{{7, 2}, {6, 2}, {7, 3}});
  // x = 1 (gx = 8): the centre cell 8 clamps to 7, and so does the left one 7.5 → 7; tx = 8 − 7
  const V border = cells(1.0, 2.75 / 8);
  CHECK(border == V{{7, 2}, {7, 2}, {7, 3}});
  CHECK(loss.candidates(0)[0].tx == 1.0);
  // ratio exactly anchor_t is rejected (strict <)
  const Target<double> wide{0, 0, 0.5, 0.5, 4.0 / 8, 1.0 / 8};
  loss.build_targets(1, std::span(&wide, 1));
  CHECK(loss.candidates(0).empty());
}

TEST_CASE("two targets on one cell and anchor: the later one's CIoU is the objectness target") {
  Case<double> c("p3_nc3");
  auto loss = c.loss();
  const Target<double> a = c.targets[5], b = c.targets[6];  // image 2, both at P3 cell (3, 3)
  auto tobj_at = [&](std::vector<Target<double>> ts) {
    loss(c.pred.data(), nullptr, c.bs, ts);
    for (const auto& k : loss.candidates(0))
      if (k.image == 2 && k.anchor == 0 && k.gj == 3 && k.gi == 3)
        return loss.objectness_target(0)[((2 * c.na + 0) * 8 + 3) * 8 + 3];
    FAIL("no candidate at image 2, anchor 0, cell (3, 3)");
    return 0.0;
  };
  const double only_a = tobj_at({a}), only_b = tobj_at({b});
  REQUIRE(only_a != only_b);
  CHECK(tobj_at({a, b}) == only_b);
  CHECK(tobj_at({b, a}) == only_a);
}

TEST_CASE("finite differences agree with the analytic gradient (double, detached terms held)") {
  // case "other": random predictions, no exact ties. α and tobj are constants to autograd, so the
  // function differentiated is the loss with them frozen at their values.
  Case<double> c("other");
  auto loss = c.loss();
  std::vector<double> grad(c.pred.size());
  loss(c.pred.data(), grad.data(), c.bs, c.targets);
  loss.freeze_detached(true);
  const double eps = 1e-6;
  int bad = 0;
  double worst = 0;
  for (std::size_t i = 0; i < c.pred.size(); ++i) {
    const double saved = c.pred[i];
    c.pred[i] = saved + eps;
    const double fp = loss(c.pred.data(), nullptr, c.bs, c.targets).total;
    c.pred[i] = saved - eps;
    const double fm = loss(c.pred.data(), nullptr, c.bs, c.targets).total;
    c.pred[i] = saved;
    const double numeric = (fp - fm) / (2 * eps);
    const double d = std::abs(numeric - grad[i]);
    worst = std::max(worst, d);
    if (d > 1e-9 + 1e-6 * std::abs(numeric)) {
      if (bad < 5) MESSAGE("[" << i << "] analytic " << grad[i] << ", numeric " << numeric);
      ++bad;
    }
  }
  CHECK_MESSAGE(bad == 0, bad << " gradient entries disagree; largest difference " << worst);
  // and the frozen terms do matter: unfrozen, some box entries move with tobj and α
  loss.freeze_detached(false);
  std::size_t moved = 0;
  for (std::size_t i = 0; i < c.pred.size(); ++i) {
    const double saved = c.pred[i];
    c.pred[i] = saved + eps;
    const double fp = loss(c.pred.data(), nullptr, c.bs, c.targets).total;
    c.pred[i] = saved - eps;
    const double fm = loss(c.pred.data(), nullptr, c.bs, c.targets).total;
    c.pred[i] = saved;
    if (std::abs((fp - fm) / (2 * eps) - grad[i]) > 1e-7) ++moved;
  }
  CHECK(moved > 0);
}

TEST_CASE("train.py's hyp scaling and v7.0's balance") {
  const LossHyp coco = LossHyp::scaled(3, 80, 640);  // the unscaled defaults
  CHECK(coco.box == 0.05);
  CHECK(coco.cls == 0.5);
  CHECK(coco.obj == 1.0);
  const LossHyp h = LossHyp::scaled(2, 10, 128);
  CHECK(h.box == 0.05 * (3.0 / 2));
  CHECK(h.cls == 0.5 * (10.0 / 80 * 3 / 2));
  CHECK(h.obj == 1.0 * (0.2 * 0.2 * 3 / 2));
  CHECK(LossHyp::default_balance(3) == std::vector<double>{4.0, 1.0, 0.4});
  CHECK(LossHyp::default_balance(2) == std::vector<double>{4.0, 1.0});
  CHECK(LossHyp::default_balance(5) == std::vector<double>{4.0, 1.0, 0.25, 0.06, 0.02});
  CHECK_THROWS_AS(LossHyp::default_balance(6), std::invalid_argument);
}

TEST_CASE("bad targets and bad set-ups throw std::invalid_argument naming the problem") {
  Case<double> c("p3_nc3");
  auto loss = c.loss();
  auto throws_with = [&](Target<double> t, std::size_t bs, const std::string& text) {
    std::vector<Target<double>> ts = c.targets;
    ts.push_back(t);
    try {
      loss(c.pred.data(), nullptr, bs, ts);
      FAIL("no exception for: " << text);
    } catch (const std::invalid_argument& e) {
      CHECK_MESSAGE(std::string(e.what()).find(text) != std::string::npos, e.what());
    }
  };
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  throws_with({4, 0, 0.5, 0.5, 0.1, 0.1}, 4, "image 4 is not in a batch of 4");
  throws_with({0, 3, 0.5, 0.5, 0.1, 0.1}, 4, "class 3 is outside [0, 3)");
  throws_with({0, -1, 0.5, 0.5, 0.1, 0.1}, 4, "class -1 is outside [0, 3)");
  throws_with({0, 0, 0.5, 0.5, 0.0, 0.1}, 4, "width and height must be finite and positive");
  throws_with({0, 0, 0.5, 0.5, 0.1, -0.1}, 4, "width and height must be finite and positive");
  throws_with({0, 0, 0.5, 0.5, nan, 0.1}, 4, "width and height must be finite and positive");
  throws_with({0, 0, 0.5, 0.5, 0.1, inf}, 4, "width and height must be finite and positive");
  throws_with({0, 0, nan, 0.5, 0.1, 0.1}, 4, "centre (x, y) is not finite");
  throws_with({0, 0, 0.5, 0.5, 0.1, 0.1}, 0, "batch size must be positive");
  // the message names the row
  throws_with({9, 0, 0.5, 0.5, 0.1, 0.1}, 4, "target " + std::to_string(c.targets.size()) + ": image 9");

  std::vector<double> d(c.pred.size() - 1);
  CHECK_THROWS_AS(loss(std::span<const double>(c.pred), std::span<double>(d), c.bs, c.targets),
                  std::invalid_argument);
  CHECK_THROWS_AS(loss(std::span<const double>(c.pred.data(), 5), {}, c.bs, c.targets), std::invalid_argument);
  CHECK_THROWS_AS(ComputeLoss<double>(3, 3, c.levels, std::vector<double>(17, 1.0), LossHyp{}),
                  std::invalid_argument);
  CHECK_THROWS_AS(ComputeLoss<double>(0, 3, c.levels, c.anchors, LossHyp{}), std::invalid_argument);
  CHECK_THROWS_AS(ComputeLoss<double>(3, 3, {}, {}, LossHyp{}), std::invalid_argument);
  std::vector<double> neg = c.anchors;
  neg[4] = -1;
  CHECK_THROWS_AS(ComputeLoss<double>(3, 3, c.levels, neg, LossHyp{}), std::invalid_argument);
  LossHyp short_balance;
  short_balance.balance = {1.0, 1.0};
  CHECK_THROWS_AS(ComputeLoss<double>(3, 3, c.levels, c.anchors, short_balance), std::invalid_argument);
}

TEST_CASE("steady state: calls with the same batch and as many targets allocate nothing") {
  Case<float> c("p3_nc3");
  auto loss = c.loss();
  std::vector<float> d(c.pred.size());
  loss(c.pred.data(), d.data(), c.bs, c.targets);
  std::vector<Target<float>> fewer(c.targets.begin(), c.targets.begin() + 4);
  const long before = g_allocs.load();
  loss(c.pred.data(), d.data(), c.bs, c.targets);
  loss(c.pred.data(), d.data(), c.bs, fewer);
  loss(c.pred.data(), d.data(), c.bs, c.targets);
  CHECK(g_allocs.load() - before == 0);
}
