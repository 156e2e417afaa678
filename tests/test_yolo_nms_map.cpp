// YOLOv5 v7.0's NMS (zoo/models/yolo/nms.hpp) and mAP (zoo/metrics/detection.hpp):
// hand-made cases with answers known on paper, random cases against the NumPy/PyTorch
// reference scripts/pytorch/yolo_metrics.py (tests/fixtures/yolo_metrics.txt) to 1e-12 in
// double, and the errors on bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>
#include <zoo/metrics/detection.hpp>
#include <zoo/models/yolo/nms.hpp>

#include "support/fixtures.hpp"

using zoo::Tensor;
using zoo::metrics::Correct;
using zoo::metrics::Detection;
using zoo::metrics::DetectionMetrics;
using zoo::metrics::DetectionStats;
using zoo::metrics::Label;
using zoo::test::Fixture;
using zoo::test::Golden;
using zoo::yolo::NmsOptions;

namespace {

const Fixture& fx() {
  static const Fixture f("yolo_metrics.txt");
  return f;
}

using D = Detection<double>;
using L = Label<double>;

// One image's metrics: each call adds one image.
DetectionMetrics evaluate(int nc, const std::vector<std::pair<std::vector<D>, std::vector<L>>>& images) {
  DetectionStats<double> s(nc);
  for (const auto& [d, l] : images) s.add(d, l);
  return s.compute();
}

Correct row(std::initializer_list<int> bits) {
  Correct c{};
  std::size_t i = 0;
  for (const int b : bits) c[i++] = b != 0;
  return c;
}

// A decoded Detect row: x, y, w, h, obj, class probabilities.
void push_row(std::vector<double>& pred, double x, double y, double w, double h, double obj,
              std::initializer_list<double> cls) {
  pred.insert(pred.end(), {x, y, w, h, obj});
  pred.insert(pred.end(), cls);
}

}  // namespace

// ---------------------------------------------------------------- building blocks

TEST_CASE("np.interp semantics: ends, equal xp take the last, arithmetic") {
  using zoo::metrics::interp;
  const std::vector<double> xp{0.0, 0.0, 1.0, 1.0}, fp{1.0, 0.5, 0.5, 0.0};
  CHECK(interp(-0.1, xp, fp, 7.0, 9.0) == 7.0);  // left
  CHECK(interp(1.1, xp, fp, 7.0, 9.0) == 9.0);   // right
  CHECK(interp(0.0, xp, fp, 7.0, 9.0) == 0.5);   // the last of xp == 0 (NumPy), not 1.0
  CHECK(interp(1.0, xp, fp, 7.0, 9.0) == 0.0);   // x == xp[-1]: fp[-1]
  CHECK(interp(0.3, xp, fp, 7.0, 9.0) == 0.5);
  const std::vector<double> xq{0.0, 2.0}, fq{1.0, 3.0};
  CHECK(interp(0.5, xq, fq, 0, 0) == 1.5);
  const std::vector<double> one{0.5}, v{4.0};  // a single point: left, value, right
  CHECK(interp(0.4, one, v, -1, -2) == -1);
  CHECK(interp(0.5, one, v, -1, -2) == 4.0);
  CHECK(interp(0.6, one, v, -1, -2) == -2);
}

TEST_CASE("compute_ap: one perfect detection is 0.995; half the labels found is 0.75") {
  using zoo::metrics::compute_ap;
  const std::vector<double> one{1.0}, half{0.5};
  CHECK(compute_ap(one, one) == doctest::Approx(0.995).epsilon(1e-13));
  CHECK(compute_ap(half, one) == doctest::Approx(0.75).epsilon(1e-13));
  // A false positive ranked above the true positive: recall [0, 1], precision [0, 0.5].
  // The envelope is [1, 0.5, 0.5, 0] on mrec [0, 0, 1, 1]; at recall 0 np.interp takes the
  // LAST of the equal xp (0.5), so AP = 0.99·0.5 + 0.01·0.25 = 0.4975 (0.5 with the first).
  const std::vector<double> r{0.0, 1.0}, p{0.0, 0.5};
  CHECK(compute_ap(r, p) == doctest::Approx(0.4975).epsilon(1e-13));
}

TEST_CASE("smooth: a box filter with edge padding, as long as its input") {
  using zoo::metrics::smooth;
  std::vector<double> y(1000, 0.0);
  y[500] = 101.0;  // 0.1 of 1000 points: nf = 101 taps of weight 1/101
  const std::vector<double> s = smooth(y, 0.1);
  REQUIRE(s.size() == 1000);
  CHECK(s[449] == 0.0);
  CHECK(s[450] == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(s[550] == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(s[551] == 0.0);
  std::vector<double> ramp(1000);
  for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<double>(i);
  const std::vector<double> r = smooth(ramp, 0.1);
  CHECK(r[0] == doctest::Approx((50.0 * 0 + (0 + 50) * 51 / 2.0) / 101).epsilon(1e-14));  // 50 pads of y[0]
  CHECK(r[500] == doctest::Approx(500.0).epsilon(1e-14));
}

TEST_CASE("iou thresholds are linspace(0.5, 0.95, 10); box_iou has v7.0's eps") {
  const auto t = zoo::metrics::iou_thresholds<double>();
  CHECK(t[0] == 0.5);
  CHECK(t[9] == 0.95);
  CHECK(t[3] == doctest::Approx(0.65).epsilon(1e-15));
  const double iou = zoo::metrics::box_iou(0.0, 0.0, 100.0, 100.0, 0.0, 0.0, 100.0, 62.0);
  CHECK(iou < 0.62);  // 6200 / (10000 + 1e-7)
  CHECK(iou == doctest::Approx(0.62).epsilon(1e-10));
}

// ---------------------------------------------------------------- hand-made mAP cases

TEST_CASE("one perfect detection: AP 0.995 at every threshold, P = R = 1") {
  for (const double conf : {0.9, 0.3}) {
    const DetectionMetrics m = evaluate(3, {{{D{10, 10, 50, 50, conf, 1}}, {L{1, 10, 10, 50, 50}}}});
    REQUIRE(m.classes == std::vector<int>{1});
    for (const double ap : m.ap_all[0]) CHECK(ap == doctest::Approx(0.995).epsilon(1e-13));
    CHECK(m.map50 == doctest::Approx(0.995).epsilon(1e-13));
    CHECK(m.map == doctest::Approx(0.995).epsilon(1e-13));
    CHECK(m.mp == doctest::Approx(1.0).epsilon(1e-13));
    CHECK(m.mr == doctest::Approx(1.0).epsilon(1e-13));
    CHECK(m.fitness() == doctest::Approx(0.995).epsilon(1e-13));
    CHECK(m.images == 1);
    CHECK(m.labels_per_class == std::vector<std::size_t>{0, 1, 0});
    const std::vector<double> maps = m.class_maps();  // classes without labels get map
    CHECK(maps[0] == m.map);
    CHECK(maps[1] == m.ap[0]);
  }
  // The same in float, as training uses it.
  DetectionStats<float> s(1);
  const std::vector<Detection<float>> d{{10.f, 10.f, 50.f, 50.f, 0.9f, 0}};
  const std::vector<Label<float>> l{{0, 10.f, 10.f, 50.f, 50.f}};
  s.add(d, l);
  CHECK(s.compute().map == doctest::Approx(0.995).epsilon(1e-12));
}

TEST_CASE("a detection with IoU 0.62 counts at 0.5, 0.55 and 0.6 only: mAP = 3/10 of 0.995") {
  const std::vector<D> d{D{0, 0, 100, 62, 0.8, 0}};
  const std::vector<L> l{L{0, 0, 0, 100, 100}};
  const std::vector<Correct> c = zoo::metrics::process_batch<double>(d, l);
  CHECK(c[0] == row({1, 1, 1, 0, 0, 0, 0, 0, 0, 0}));
  const DetectionMetrics m = evaluate(1, {{d, l}});
  CHECK(m.map50 == doctest::Approx(0.995).epsilon(1e-13));
  CHECK(m.map == doctest::Approx(0.3 * 0.995).epsilon(1e-13));
}

TEST_CASE("two detections on one label: the label goes to the lower-index detection that chose it") {
  // A (index 0, conf 0.9) overlaps the label with IoU 0.72, B (index 1, conf 0.8) with 0.88.
  // Both take the label as their best; v7.0 then gives it to the first detection, A, at every
  // threshold A reaches (0.5 … 0.7). A greedy-by-IoU matcher would give it to B there.
  const std::vector<D> d{D{0, 0, 100, 72, 0.9, 0}, D{0, 0, 100, 88, 0.8, 0}};
  const std::vector<L> l{L{0, 0, 0, 100, 100}};
  const std::vector<Correct> c = zoo::metrics::process_batch<double>(d, l);
  CHECK(c[0] == row({1, 1, 1, 1, 1, 0, 0, 0, 0, 0}));
  CHECK(c[1] == row({0, 0, 0, 0, 0, 1, 1, 1, 0, 0}));
  // The same detections listed the other way round: B is now first and wins at 0.5 … 0.85.
  const std::vector<D> swapped{d[1], d[0]};
  const std::vector<Correct> c2 = zoo::metrics::process_batch<double>(swapped, l);
  CHECK(c2[0] == row({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}));
  CHECK(c2[1] == row({0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST_CASE("a detection whose best label went to another detection is a false positive, though a free label overlaps it") {
  // A = L0 exactly; B overlaps L0 (IoU 0.923) more than L1 (0.887). Both choose L0; L0 goes to
  // A; B stays unmatched although L1 is free and overlaps it well above 0.5 (not a greedy matcher).
  const std::vector<L> l{L{0, 0, 0, 100, 100}, L{0, 0, 10, 100, 110}};
  const std::vector<D> d{D{0, 0, 100, 100, 0.9, 0}, D{0, 4, 100, 104, 0.8, 0}};
  const std::vector<Correct> c = zoo::metrics::process_batch<double>(d, l);
  CHECK(c[0] == row({1, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
  CHECK(c[1] == row({0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST_CASE("labels without detections count as misses, also in images with no detections") {
  const DetectionMetrics m = evaluate(1, {{{D{0, 0, 10, 10, 0.9, 0}}, {L{0, 0, 0, 10, 10}}},
                                          {{}, {L{0, 20, 20, 40, 40}}}});
  CHECK(m.images == 2);
  CHECK(m.labels == std::vector<std::size_t>{2});
  CHECK(m.map50 == doctest::Approx(0.75).epsilon(1e-13));  // recall 0.5 at precision 1
  CHECK(m.mr == doctest::Approx(0.5).epsilon(1e-13));
  CHECK(m.mp == doctest::Approx(1.0).epsilon(1e-13));
}

TEST_CASE("false positives: of the wrong class, and in images without labels") {
  // Only a wrong-class detection: nothing is correct, and val.py then reports zeros.
  const DetectionMetrics none = evaluate(2, {{{D{0, 0, 10, 10, 0.9, 1}}, {L{0, 0, 0, 10, 10}}}});
  CHECK(none.classes.empty());
  CHECK(none.map50 == 0.0);
  CHECK(none.map == 0.0);
  CHECK(none.mp == 0.0);
  // Class 1's detection on class 0's object ranks above class 1's true positive: class 1 has
  // recall [0, 1], precision [0, 0.5] → AP 0.4975; class 0 has no detection → AP 0.
  const DetectionMetrics m = evaluate(
      2, {{{D{0, 0, 10, 10, 0.9, 1}, D{50, 50, 70, 70, 0.8, 1}}, {L{0, 0, 0, 10, 10}, L{1, 50, 50, 70, 70}}}});
  REQUIRE(m.classes == std::vector<int>{0, 1});
  CHECK(m.ap50[0] == 0.0);
  CHECK(m.ap50[1] == doctest::Approx(0.4975).epsilon(1e-13));
  CHECK(m.map50 == doctest::Approx(0.4975 / 2).epsilon(1e-13));
  // A detection in an image without labels is a false positive just the same.
  const DetectionMetrics m2 = evaluate(1, {{{D{50, 50, 70, 70, 0.8, 0}}, {L{0, 50, 50, 70, 70}}},
                                           {{D{0, 0, 10, 10, 0.9, 0}}, {}}});
  CHECK(m2.map50 == doctest::Approx(0.4975).epsilon(1e-13));
  // Detections of a class that has no labels do not enter the means.
  const DetectionMetrics m3 =
      evaluate(2, {{{D{0, 0, 10, 10, 0.9, 1}, D{0, 0, 10, 10, 0.8, 0}}, {L{0, 0, 0, 10, 10}}}});
  CHECK(m3.classes == std::vector<int>{0});
  CHECK(m3.map50 == doctest::Approx(0.995).epsilon(1e-13));
}

// ---------------------------------------------------------------- hand-made NMS cases

TEST_CASE("NMS: class-aware suppression, agnostic suppression, order and boxes") {
  // Two boxes of class 0 with IoU 95·100 / 105·100 ≈ 0.905 (shifted by 5 px in x).
  std::vector<double> pred;
  push_row(pred, 50, 50, 100, 100, 0.9, {0.9, 0.1});
  push_row(pred, 55, 50, 100, 100, 0.8, {0.8, 0.1});
  auto out = zoo::yolo::non_max_suppression_image(pred.data(), 2, 2);
  REQUIRE(out.size() == 1);
  CHECK(out[0].conf == doctest::Approx(0.81).epsilon(1e-15));
  CHECK(out[0].cls == 0);
  CHECK(out[0].x1 == 0.0);
  CHECK(out[0].y1 == 0.0);
  CHECK(out[0].x2 == 100.0);
  CHECK(out[0].y2 == 100.0);

  // The second box of another class: class-aware NMS keeps both, in conf order; agnostic not.
  pred.clear();
  push_row(pred, 55, 50, 100, 100, 0.8, {0.1, 0.8});
  push_row(pred, 50, 50, 100, 100, 0.9, {0.9, 0.1});
  out = zoo::yolo::non_max_suppression_image(pred.data(), 2, 2);
  REQUIRE(out.size() == 2);
  CHECK(out[0].cls == 0);
  CHECK(out[1].cls == 1);
  CHECK(out[0].conf > out[1].conf);
  NmsOptions ag;
  ag.agnostic = true;
  out = zoo::yolo::non_max_suppression_image(pred.data(), 2, 2, ag);
  REQUIRE(out.size() == 1);
  CHECK(out[0].cls == 0);

  // In float, as training and detect use it, through the tensor entry point.
  Tensor<float> pf({1, 2, 7});
  for (std::size_t i = 0; i < pred.size(); ++i) pf.data()[i] = static_cast<float>(pred[i]);
  const auto outf = zoo::yolo::non_max_suppression(pf, 2);
  REQUIRE(outf.size() == 1);
  REQUIRE(outf[0].size() == 2);
  CHECK(outf[0][0].conf == doctest::Approx(0.81f));
  CHECK(outf[0][1].x1 == 5.0f);
}

TEST_CASE("NMS: IoU equal to iou_thres is kept (strict >); conf equal to conf_thres is dropped") {
  // IoU exactly 0.5: (0,0)-(100,100) against (0,0)-(100,50).
  std::vector<double> pred;
  push_row(pred, 50, 50, 100, 100, 0.9, {0.9});
  push_row(pred, 50, 25, 100, 50, 0.8, {0.8});
  NmsOptions o;
  o.iou_thres = 0.5;
  CHECK(zoo::yolo::non_max_suppression_image(pred.data(), 2, 1, o).size() == 2);
  o.iou_thres = 0.49;
  CHECK(zoo::yolo::non_max_suppression_image(pred.data(), 2, 1, o).size() == 1);

  pred.clear();  // separate boxes, conf_thres 0.25
  push_row(pred, 10, 10, 5, 5, 0.25, {1.0});    // obj == conf_thres: dropped
  push_row(pred, 30, 10, 5, 5, 0.5, {0.5});     // conf == 0.25: dropped
  push_row(pred, 50, 10, 5, 5, 0.5, {0.5000001});  // kept
  push_row(pred, 70, 10, 5, 5, 1.0, {0.2500001});  // kept
  const auto out = zoo::yolo::non_max_suppression_image(pred.data(), 4, 1);
  REQUIRE(out.size() == 2);
  CHECK(out[0].x1 == 67.5);  // conf 0.2500001
  CHECK(out[0].conf == doctest::Approx(0.2500001).epsilon(1e-15));
  CHECK(out[1].x1 == 47.5);  // conf 0.25000005
  CHECK(out[1].conf == doctest::Approx(0.25000005).epsilon(1e-15));
}

TEST_CASE("NMS: max_det keeps the highest confidences; multi_label makes one box per class above the threshold") {
  std::vector<double> pred;
  for (int i = 0; i < 5; ++i) push_row(pred, 20.0 * i + 10, 10, 8, 8, 0.5 + 0.1 * i, {0.9});
  NmsOptions o;
  o.max_det = 3;
  const auto out = zoo::yolo::non_max_suppression_image(pred.data(), 5, 1, o);
  REQUIRE(out.size() == 3);
  CHECK(out[0].x1 == 86.0);  // the last row has the highest obj
  CHECK(out[1].x1 == 66.0);
  CHECK(out[2].x1 == 46.0);

  pred.clear();
  push_row(pred, 10, 10, 8, 8, 0.9, {0.6, 0.3, 0.001});
  NmsOptions ml;
  ml.multi_label = true;
  const auto many = zoo::yolo::non_max_suppression_image(pred.data(), 1, 3, ml);
  REQUIRE(many.size() == 2);  // class 2's 0.0009 is under 0.25
  CHECK(many[0].cls == 0);
  CHECK(many[1].cls == 1);
  CHECK(zoo::yolo::non_max_suppression_image(pred.data(), 1, 3).size() == 1);
  // multi_label with one class is the best-class path (v7.0: multi_label &= nc > 1).
  std::vector<double> single;
  push_row(single, 10, 10, 8, 8, 0.9, {0.6});
  CHECK(zoo::yolo::non_max_suppression_image(single.data(), 1, 1, ml).size() == 1);
}

TEST_CASE("NMS: tied confidences keep their order of arrival (stable)") {
  std::vector<double> pred;
  for (int i = 0; i < 4; ++i) push_row(pred, 30.0 * i + 10, 10, 8, 8, 0.5, {0.8});
  const auto out = zoo::yolo::non_max_suppression_image(pred.data(), 4, 1);
  REQUIRE(out.size() == 4);
  for (int i = 0; i < 4; ++i) CHECK(out[static_cast<std::size_t>(i)].x1 == 30.0 * i + 6);
}

// ---------------------------------------------------------------- against the reference

TEST_CASE("NMS matches the reference on random clustered predictions (double, 1e-12)") {
  const Golden& g = fx()["nms.pred"];
  REQUIRE(g.shape.size() == 3);
  const std::size_t bs = g.shape[0], n = g.shape[1], nc = g.shape[2] - 5;
  Tensor<double> pred({bs, n, 5 + nc});
  fx().copy_to("nms.pred", pred.data());
  std::vector<std::pair<std::string, NmsOptions>> sets(4);
  sets[0].first = "default";
  sets[1].first = "val";
  sets[1].second.conf_thres = 0.001, sets[1].second.iou_thres = 0.6, sets[1].second.multi_label = true;
  sets[2].first = "agnostic";
  sets[2].second.agnostic = true;
  sets[3].first = "maxdet";
  sets[3].second.conf_thres = 0.1, sets[3].second.max_det = 4;
  for (const auto& set : sets) {
    const std::string& name = set.first;  // not a structured binding: clang 14 cannot capture one in INFO
    const NmsOptions& opt = set.second;
    INFO("option set " << name);
    const auto out = zoo::yolo::non_max_suppression(pred, nc, opt);
    const Golden& counts = fx()["nms." + name + ".counts"];
    const Golden& dets = fx()["nms." + name + ".dets"];
    REQUIRE(out.size() == bs);
    std::size_t k = 0;
    double worst = 0;
    for (std::size_t b = 0; b < bs; ++b) {
      REQUIRE(out[b].size() == static_cast<std::size_t>(counts.values[b]));
      for (const auto& d : out[b]) {
        const double* w = &dets.values[6 * k++];
        const double got[6] = {d.x1, d.y1, d.x2, d.y2, d.conf, static_cast<double>(d.cls)};
        for (int j = 0; j < 6; ++j) worst = std::max(worst, std::abs(got[j] - w[j]));
      }
    }
    CHECK(k == dets.shape[0]);
    CHECK(worst <= 1e-12);
  }
}

TEST_CASE("mAP matches the reference on random images (correct, p, r, ap50, ap, map; double, 1e-12)") {
  for (const std::string c : {"broad", "classes", "crowded", "from_nms"}) {
    INFO("case " << c);
    const std::string k = "map." + c + ".";
    const int nc = static_cast<int>(fx()[k + "nc"].values[0]);
    const Golden& dc = fx()[k + "det_counts"];
    const Golden& lc = fx()[k + "label_counts"];
    const Golden& dv = fx()[k + "dets"];
    const Golden& lv = fx()[k + "labels"];
    DetectionStats<double> stats(nc);
    std::vector<Correct> correct;
    std::size_t di = 0, li = 0;
    for (std::size_t b = 0; b < dc.values.size(); ++b) {
      std::vector<D> d;
      std::vector<L> l;
      for (int i = 0; i < static_cast<int>(dc.values[b]); ++i, ++di) {
        const double* r = &dv.values[6 * di];
        d.push_back(D{r[0], r[1], r[2], r[3], r[4], static_cast<int>(r[5])});
      }
      for (int i = 0; i < static_cast<int>(lc.values[b]); ++i, ++li) {
        const double* r = &lv.values[5 * li];
        l.push_back(L{static_cast<int>(r[0]), r[1], r[2], r[3], r[4]});
      }
      const std::vector<Correct> cb = zoo::metrics::process_batch<double>(d, l);
      correct.insert(correct.end(), cb.begin(), cb.end());
      stats.add(d, l);
    }
    // The correct matrix, exactly.
    const Golden& gc = fx()[k + "correct"];
    REQUIRE(correct.size() == gc.shape[0]);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < correct.size(); ++i)
      for (std::size_t t = 0; t < 10; ++t) wrong += correct[i][t] != (gc.values[10 * i + t] != 0);
    CHECK_MESSAGE(wrong == 0, wrong << " entries of correct differ");
    CHECK(stats.correct() == correct);

    const DetectionMetrics m = stats.compute();
    const auto close = [&](const std::string& key, std::span<const double> got) {
      const Golden& w = fx()[k + key];
      REQUIRE_MESSAGE(got.size() == w.values.size(), key);
      zoo::test::check_close(k + key, got.data(), w, 1e-12, 0.0);
    };
    std::vector<double> classes(m.classes.begin(), m.classes.end());
    close("classes", classes);
    std::vector<double> lpc(m.labels_per_class.begin(), m.labels_per_class.end());
    close("labels_per_class", lpc);
    close("p", m.p);
    close("r", m.r);
    close("ap50", m.ap50);
    close("ap", m.ap);
    std::vector<double> ap_all;
    for (const auto& a : m.ap_all) ap_all.insert(ap_all.end(), a.begin(), a.end());
    close("ap_all", ap_all);
    const double scalars[] = {m.mp, m.mr, m.map50, m.map, m.fitness(), static_cast<double>(m.best_index),
                              static_cast<double>(m.images)};
    const char* names[] = {"mp", "mr", "map50", "map", "fitness", "best_index", "images"};
    for (int i = 0; i < 7; ++i) close(names[i], std::span<const double>(&scalars[i], 1));
    MESSAGE(c << ": P " << m.mp << " R " << m.mr << " mAP50 " << m.map50 << " mAP " << m.map);

    const zoo::metrics::ApPerClass a =
        zoo::metrics::ap_per_class<double>(stats.correct(), stats.conf(), stats.pred_cls(), stats.target_cls());
    close("tp", a.tp);
    close("fp", a.fp);
  }
}

// ---------------------------------------------------------------- bad input

TEST_CASE("bad input: NaN boxes, negative or out-of-range classes, nc mismatch, bad thresholds") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  using doctest::Contains;
  DetectionStats<double> s(3);
  const std::vector<L> ok_l{L{0, 0, 0, 10, 10}};
  const std::vector<D> ok_d{D{0, 0, 10, 10, 0.5, 0}};
  CHECK_THROWS_WITH_AS(s.add(std::vector<D>{D{nan, 0, 10, 10, 0.5, 0}}, ok_l),
                       Contains("detection 0 has a non-finite box"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(s.add(ok_d, std::vector<L>{L{0, 0, 0, 10, 10}, L{0, 0, nan, 10, 10}}),
                       Contains("label 1 has a non-finite box"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(s.add(ok_d, std::vector<L>{L{-1, 0, 0, 10, 10}}), Contains("label 0 has class -1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(s.add(std::vector<D>{D{0, 0, 10, 10, 0.5, 3}}, ok_l), Contains("has class 3, outside [0, 3)"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(s.add(std::vector<D>{D{0, 0, 10, 10, nan, 0}}, ok_l), Contains("non-finite confidence"),
                       std::invalid_argument);
  CHECK(s.images() == 0);  // rejected images leave no trace
  CHECK_THROWS_WITH_AS(zoo::metrics::process_batch<double>(std::vector<D>{D{0, 0, 10, 10, 0.5, -2}}, ok_l),
                       Contains("class -2"), std::invalid_argument);
  CHECK_THROWS_AS(DetectionStats<double>(0), std::invalid_argument);
  const std::vector<Correct> tp(2);
  const std::vector<double> conf{0.5};
  const std::vector<int> pc{0, 0}, tc{0};
  CHECK_THROWS_WITH_AS(zoo::metrics::ap_per_class<double>(tp, conf, pc, tc), Contains("2 rows of tp but 1 confidences"),
                       std::invalid_argument);

  Tensor<double> pred({2, 4, 7});  // nc = 2
  pred.fill(0.5);
  CHECK_THROWS_WITH_AS(zoo::yolo::non_max_suppression(pred, 3), Contains("nc = 3 needs 5 + nc = 8"),
                       std::invalid_argument);
  CHECK(zoo::yolo::non_max_suppression(pred, 2).size() == 2);
  pred.data()[7 * 5 + 1] = nan;  // image 1, row 1, y
  CHECK_THROWS_WITH_AS(zoo::yolo::non_max_suppression(pred, 2),
                       Contains("prediction row 1, column 1 is not finite"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(zoo::yolo::non_max_suppression(pred, 2), Contains("(image 1)"), std::invalid_argument);
  Tensor<double> good({1, 4, 7});
  good.fill(0.5);
  NmsOptions bad;
  bad.conf_thres = 1.5;
  CHECK_THROWS_WITH_AS(zoo::yolo::non_max_suppression(good, 2, bad), Contains("conf_thres must be in [0, 1]"),
                       std::invalid_argument);
  bad = {};
  bad.iou_thres = nan;
  CHECK_THROWS_WITH_AS(zoo::yolo::non_max_suppression(good, 2, bad), Contains("iou_thres must be in [0, 1]"),
                       std::invalid_argument);
}
