// yolov5n learns to detect digits: YOLOv5's recipe (models/yolo/train.hpp), the v7.0 loss
// and the v7.0 mAP on 64×64 canvases of 1–3 digits (MNIST from data/mnist when
// scripts/fetch_data.sh has run, else Debian's Fashion-MNIST items stand in as "digits").
// A short run must cut the loss and find most objects of the images it trained on.
#include <doctest/doctest.h>

#include <filesystem>
#include <zoo/data/detection.hpp>
#include <zoo/data/loader.hpp>
#include <zoo/metrics/detection.hpp>
#include <zoo/models/yolo/loss.hpp>
#include <zoo/models/yolo/nms.hpp>
#include <zoo/models/yolo/train.hpp>
#include <zoo/models/yolo/yolov5.hpp>
#include <zoo/zoo.hpp>

using namespace zoo;
namespace y = zoo::yolo;

TEST_CASE("yolov5n learns to find digits (64x64, 400 steps)") {
  std::string dir = std::string(ZOO_SOURCE_DIR) + "/data/mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) {
    dir = "/usr/share/datasets/fashion-mnist";
    MESSAGE("data/mnist absent: Fashion-MNIST items stand in for digits");
  }
  const data::Dataset digits = data::load_mnist(dir, "train");
  data::DigitDetectionOptions o;
  o.image_size = 64;
  o.train_count = 256;
  o.min_digits = 1, o.max_digits = 3;
  o.min_side = 16, o.max_side = 32;
  const data::DetectionSet set = data::make_digit_canvases(digits, o, data::Split::train);

  using M = Model<y::YOLOv5n<10>, Shape<3, 64, 64>>;
  using Det = y::detect_of<M::net_type>;
  M m(3);
  y::Hyp hyp;
  hyp.nbs = 16;  // an optimizer step per batch: the run is short
  y::GroupSGD<float> opt(m, hyp);
  std::vector<y::LevelGeom> lv;
  for (std::size_t l = 0; l < Det::nl; ++l) lv.push_back({Det::ny[l], Det::nx[l]});
  auto& det = y::detect_layer(m.net());
  y::ComputeLoss<float> loss(10, Det::na, lv, std::vector<float>(det.anchors, det.anchors + 18),
                             y::LossHyp::scaled(3, 10, 64));
  data::DetectionLoader loader(set, {.batch_size = 16, .shuffle = true, .drop_last = true, .seed = 1});
  const std::size_t epochs = 25;
  y::Schedule sched{hyp, epochs, loader.num_batches(), 16};
  std::vector<y::Target<float>> t;
  Tensor<float> dp;
  data::DetectionBatch b;
  double first = 0, last = 0;
  std::size_t ni = 0;
  long last_step = -1;
  m.zero_grad();
  for (std::size_t e = 0; e < epochs; ++e) {
    m.train();
    loader.start_epoch(e);
    double sum = 0;
    std::size_t n = 0;
    while (loader.next(b)) {
      const std::size_t acc = sched.apply(opt, ni, e);
      const auto& out = m.forward(b.x);
      dp.resize(out.shape());
      t.clear();
      for (const auto& r : b.targets) t.push_back({r.image, r.cls, r.x, r.y, r.w, r.h});
      const auto parts = loss(out.data(), dp.data(), b.size(), t);
      REQUIRE(std::isfinite(parts.total));
      m.backward(dp);
      if (long(ni) - last_step >= long(acc)) opt.step(), m.zero_grad(), last_step = long(ni);
      sum += parts.total, ++n, ++ni;
    }
    if (e == 0) first = sum / double(n);
    last = sum / double(n);
  }
  MESSAGE("loss per batch: epoch 1 " << first << ", epoch " << epochs << " " << last);
  CHECK(last < 0.7 * first);  // measured 0.53

  // mAP@0.5 on the training images (eval mode, val.py's NMS settings).
  m.eval();
  metrics::DetectionStats<float> stats{10};
  data::DetectionLoader ev(set, {.batch_size = 32, .shuffle = false});
  ev.start_epoch(0);
  std::vector<metrics::Label<float>> labels;
  while (ev.next(b)) {
    const auto& out = m.forward(b.x);
    const auto d = y::non_max_suppression(out.data(), b.size(), Det::rows, 10,
                                          {.conf_thres = 0.001, .iou_thres = 0.6, .multi_label = true});
    for (std::size_t i = 0; i < b.size(); ++i) {
      labels.clear();
      for (const auto& r : b.targets)
        if (r.image == i)
          labels.push_back({r.cls, (r.x - r.w / 2) * 64, (r.y - r.h / 2) * 64, (r.x + r.w / 2) * 64,
                            (r.y + r.h / 2) * 64});
      stats.add(d[i], labels);
    }
  }
  const auto r = stats.compute();
  MESSAGE("train-set P " << r.mp << " R " << r.mr << " mAP@0.5 " << r.map50 << " mAP@0.5:0.95 " << r.map);
  CHECK(r.map50 > 0.08);  // measured 0.158; untrained 0.0004
}
