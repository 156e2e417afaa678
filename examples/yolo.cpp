// examples/yolo.cpp — trains YOLOv5n (v7.0) or its AKConv variant on the digits detection
// set (128×128 canvases of 1–6 MNIST digits, written once as a YOLO-format data set), with
// YOLOv5's recipe, evaluates it with YOLOv5's mAP, and annotates images.
//
//   yolo --epochs 30 --out runs/yolo                                 # Conv yolov5n
//   yolo --model yolo_akconv --akconv-n 5 --out runs/yolo_akconv     # AKConv N = 5 rows
//   yolo --resume --out runs/yolo --epochs 40                        # continue a run
//   yolo --detect a.png b.jpg --checkpoint runs/yolo/best.safetensors --out runs/detect
//   yolo --eval --checkpoint runs/yolo/best.safetensors              # mAP on the val split
//   mpirun -np 4 yolo --batch 64 --out runs/yolo                     # data-parallel, 16 images a rank
//   yolo --device cuda --out runs/yolo_gpu                           # on a GPU (-DZOO_CUDA=ON build)
//   yolo --help
//
// Training writes <out>/results.csv (per epoch: the loss parts, P, R, mAP@0.5,
// mAP@0.5:0.95, lr, seconds), checkpoint.safetensors (model, optimizer, EMA step; every
// epoch, atomically), ema.safetensors (the EMA the next epoch continues from),
// best.safetensors (the EMA at the best 0.1·mAP@0.5 + 0.9·mAP@0.5:0.95) and
// val_epoch<E>.png (validation images: predicted boxes in class colours, true boxes green).
// A non-finite loss stops the run (exit 3) before anything is written, with one line on
// stderr naming the epoch, the step, the loss parts and the last good checkpoint, which
// stays as it was; the model, the EMA and the optimizer are checked finite before every
// save (examples/guard.hpp, shared by every trainer).
//
// Under mpirun -np K (examples/ranks.hpp) each rank trains on its share of every --batch
// images; rank 0 alone makes the data set, evaluates, draws and writes. --detect and --eval
// run on rank 0 alone.
//
// --device cuda (examples/device.hpp) trains, evaluates and detects with zoo::cuda::Models of
// the same network types: the forward and backward passes, the optimizer (cuda::GroupSGD,
// clipping included) and the EMA run on the device; the loss (target matching) and NMS stay
// on the host, so each step copies Detect's output down and its gradient up (0.4 MB each for
// 16 images). Checkpoints are the CPU's files: a run resumes on either.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
#include <zoo/data/detection.hpp>
#include <zoo/data/loader.hpp>
#include <zoo/io/image.hpp>
#include <zoo/io/png.hpp>
#include <zoo/io/progress.hpp>
#include <zoo/io/safetensors.hpp>
#include <zoo/metrics/detection.hpp>
#include <zoo/models/yolo/loss.hpp>
#include <zoo/models/yolo/nms.hpp>
#include <zoo/models/yolo/train.hpp>
#include <zoo/models/yolo/yolov5.hpp>
#include <zoo/zoo.hpp>

#include "cli.hpp"
#include "device.hpp"
#include "guard.hpp"
#include "ranks.hpp"

namespace fs = std::filesystem;
// In a namespace, not `using namespace zoo;` at global scope: nvcc's generated code names
// `cuda::`, which zoo::cuda would make ambiguous (docs/gpu.md).
namespace example {
using namespace zoo;

constexpr std::size_t kSize = 128, kClasses = 10;
using Input = Shape<3, kSize, kSize>;

struct Args {
  std::string device = "cpu";
  std::string model = "yolo", set = "data/digits-det", data = "mnist", out, checkpoint;
  std::vector<std::string> detect;
  int akconv_n = 3, epochs = 30, threads = 0, val_images = 500;
  std::size_t batch = 16, train_images = 4000;
  double lr0 = 0.01, minutes = 0, translate = 0, scale = 0, conf = 0.25, clip = 10;
  std::uint64_t seed = 1;
  bool resume = false, eval = false, sync_bn = false;
};

Args parse(int argc, char** argv) {
  Args a;
  CLI::App app{"Trains YOLOv5n (or its AKConv variant) on the digits detection set with YOLOv5 v7.0's "
               "recipe and mAP; --detect annotates images, --eval scores a checkpoint.",
               "yolo"};
  cli::setup(app);
  app.add_option("--model", a.model, "yolo (Conv rows) or yolo_akconv (stride-2 rows are AKConv)")
      ->check(CLI::IsMember({"yolo", "yolo_akconv"}))->capture_default_str();
  app.add_option("--akconv-n,--akconv_n", a.akconv_n, "AKConv's sampling points (each is a compiled type)")
      ->check(CLI::IsMember({3, 5}))->capture_default_str();
  app.add_option("--set", a.set, "a YOLO-format data set (images/{train,val}, labels/{train,val}); made "
                                  "from the --data digits when it does not exist")
      ->type_name("DIR")->capture_default_str();
  cli::data(app, a.data);
  app.add_option("--train-images", a.train_images, "canvases in the generated train split")
      ->check(cli::integer(16, 1000000))->capture_default_str();
  app.add_option("--val-images", a.val_images, "canvases in the generated val split")
      ->check(cli::integer(1, 100000))->capture_default_str();
  cli::epochs(app, a.epochs);
  app.add_option("--batch", a.batch, "images per batch (YOLOv5 accumulates to 64)")
      ->check(cli::integer(2, 4096, "batch norm needs 2 images"))->capture_default_str();
  app.add_option("--lr0", a.lr0, "initial learning rate (SGD)")->check(cli::number())->capture_default_str();
  app.add_option("--clip", a.clip, "clip the gradient's norm at this before each step, as train.py (0: off)")
      ->check(cli::number(true))->capture_default_str();
  app.add_option("--translate", a.translate, "augmentation: random shift, fraction of the image")
      ->check(CLI::Range(0.0, 0.5))->capture_default_str();
  app.add_option("--scale", a.scale, "augmentation: random scale in [1 - s, 1 + s]")
      ->check(CLI::Range(0.0, 0.9))->capture_default_str();
  cli::seed(app, a.seed);
  cli::out(app, a.out, "runs/<model>");
  app.add_flag("--resume", a.resume, "continue OUT/checkpoint.safetensors");
  app.add_flag("--sync-bn,--sync_bn", a.sync_bn, "under mpirun: BatchNorm statistics over the global batch");
  cli::minutes(app, a.minutes);
  cli::threads(app, a.threads);
  device::option(app, a.device);
  auto* det = app.add_option("--detect", a.detect, "annotate these PNG/JPEG files (needs --checkpoint)")
                  ->check(CLI::ExistingFile)->group("Inference");
  auto* ev = app.add_flag("--eval", a.eval, "score --checkpoint on the val split")->group("Inference");
  auto* ck = app.add_option("--checkpoint", a.checkpoint, "weights for --detect / --eval")
                 ->check(CLI::ExistingFile)->group("Inference");
  app.add_option("--conf", a.conf, "--detect: confidence threshold")->check(CLI::Range(0.0, 1.0))
      ->group("Inference")->capture_default_str();
  det->excludes(ev);
  cli::parse_or_exit(app, argc, argv);
  device::check(app, a.device, ranks::size());
  if ((!a.detect.empty() || a.eval) && a.checkpoint.empty()) cli::fail(app, "--detect and --eval need --checkpoint");
  if (a.resume && (!a.detect.empty() || a.eval)) cli::fail(app, "--resume trains; it does not go with --detect/--eval");
  (void)ck;
  if (a.out.empty()) a.out = a.detect.empty() ? "runs/" + a.model : "runs/detect";
  if (a.resume && !fs::is_regular_file(a.out + "/checkpoint.safetensors"))
    cli::fail(app, "--resume: no checkpoint " + a.out + "/checkpoint.safetensors");
  if (a.threads > 0) set_num_threads(a.threads);
  return a;
}

std::string variant_name(const Args& a) {
  return a.model == "yolo" ? "yolov5n" : "yolov5n-akconv" + std::to_string(a.akconv_n);
}

// A checkpoint of another variant is refused by name before any tensor is read.
void check_variant(const std::string& path, const std::string& want) {
  const auto f = io::read_safetensors(path);
  const auto got = f.meta("model");
  if (got && *got != want)
    throw IoError(path, "is a checkpoint of " + *got + ", this run builds " + want +
                            " (choose it with --model/--akconv-n)");
}

// The CPU model type behind M (M itself, or a device model's mirror).
template <class M>
using host_model_t = std::remove_reference_t<decltype(device::host_of(std::declval<M&>()))>;

template <class M>
struct Detector {
  using Det = yolo::detect_of<typename host_model_t<M>::net_type>;
  static std::vector<yolo::LevelGeom> levels() {
    std::vector<yolo::LevelGeom> g;
    for (std::size_t l = 0; l < Det::nl; ++l) g.push_back({Det::ny[l], Det::nx[l]});
    return g;
  }
  static std::vector<float> anchors(M& m) {
    auto& d = yolo::detect_layer(device::host_of(m).net());
    return std::vector<float>(d.anchors, d.anchors + Det::num_buffers);
  }
};

// Inference with a model's weights, host batches in, host outputs out. On the CPU a
// zoo::InferenceModel (no gradients, a planned arena); a device model runs itself in eval
// mode (its mode is restored after) and its outputs are copied back.
template <class M>
class Infer {
 public:
  explicit Infer(M& m) : m_(m), inf_(make(m)) {
    if constexpr (!on_host) {
      was_training_ = m.training();
      m.eval();
    }
  }
  ~Infer() {
    if constexpr (!on_host) m_.train(was_training_);
  }
  Infer(const Infer&) = delete;
  Infer& operator=(const Infer&) = delete;
  const Tensor<float>& forward(const Tensor<float>& x) {
    if constexpr (on_host) return inf_.forward(x);
    else return st_.back(m_.forward(st_(x)));
  }

 private:
  static constexpr bool on_host = zoo::has_inference_model_v<M>;
  struct None {};
  template <class X, bool Host>
  struct inf_of {
    using type = None;
  };
  template <class X>
  struct inf_of<X, true> {
    using type = zoo::inference_model_t<X>;
  };
  using Inf = typename inf_of<M, on_host>::type;
  static auto make(M& m) {
    if constexpr (on_host) return Inf(m);
    else return (void)m, None{};
  }
  M& m_;
  Inf inf_;
  zoo::Staged<M> st_;
  bool was_training_ = true;
};

// mAP of `m` (eval mode) on a data set, as val.py: NMS at conf 0.001, IoU 0.6, multi-label.
template <class M>
metrics::DetectionMetrics evaluate(M& m, const data::DetectionSet& ds, std::size_t batch,
                                   double* ms_per_image, std::vector<std::vector<data::Detection>>* keep = nullptr,
                                   std::size_t keep_n = 0) {
  using Det = typename Detector<M>::Det;
  Infer<M> inf(m);  // m's weights
  data::DetectionLoader loader(ds, {.batch_size = batch, .shuffle = false});
  data::DetectionBatch b;
  metrics::DetectionStats<float> stats{int(kClasses)};
  std::vector<metrics::Label<float>> labels;
  double forward_s = 0;
  std::size_t images = 0;
  loader.start_epoch(0);
  while (loader.next(b)) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto& out = inf.forward(b.x);
    forward_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto dets = yolo::non_max_suppression(out.data(), b.size(), Det::rows, kClasses,
                                                {.conf_thres = 0.001, .iou_thres = 0.6, .multi_label = true});
    for (std::size_t i = 0; i < b.size(); ++i) {
      labels.clear();
      for (const auto& t : b.targets)
        if (t.image == i)
          labels.push_back({t.cls, (t.x - t.w / 2) * kSize, (t.y - t.h / 2) * kSize, (t.x + t.w / 2) * kSize,
                            (t.y + t.h / 2) * kSize});
      stats.add(dets[i], labels);
      if (keep && keep->size() < keep_n) {
        std::vector<data::Detection> d;
        for (const auto& p : dets[i])
          if (p.conf >= 0.25f) d.push_back({p.x1, p.y1, p.x2, p.y2, p.conf, p.cls});
        keep->push_back(std::move(d));
      }
    }
    images += b.size();
  }
  if (ms_per_image) *ms_per_image = 1e3 * forward_s / double(std::max<std::size_t>(images, 1));
  return stats.compute();
}

void print_metrics(const char* what, const metrics::DetectionMetrics& r) {
  std::printf("%s  P %.3f  R %.3f  mAP@0.5 %.3f  mAP@0.5:0.95 %.3f\n", what, r.mp, r.mr, r.map50, r.map);
}

template <class M>
void val_picture(M& ema, const data::DetectionSet& val, const std::string& path) {
  const std::size_t n = std::min<std::size_t>(8, val.size());
  data::DetectionSet head = val;
  head.count = n;
  head.pixels.resize(n * val.image_bytes());
  head.offsets.resize(n + 1);
  head.boxes.resize(head.offsets.back());
  std::vector<std::vector<data::Detection>> preds;
  evaluate(ema, head, n, nullptr, &preds, n);
  std::vector<io::Image> images;
  std::vector<data::BoxTarget> truths;
  for (std::size_t i = 0; i < n; ++i) {
    images.push_back(val.to_image(i));
    for (const auto& bx : val.boxes_of(i)) truths.push_back({i, bx.cls, bx.x, bx.y, bx.w, bx.h});
  }
  data::write_detection_grid(path, images, preds, truths, 4, 2);
}

template <class M, bool Cuda>
int train(const Args& a) {
  const std::string name = variant_name(a);
  data::DigitDetectionOptions dopt;
  dopt.image_size = kSize;
  dopt.train_count = a.train_images;
  dopt.val_count = std::size_t(a.val_images);
  if (ranks::root()) {
    fs::create_directories(a.out);
    // A set this program made (stamped) is remade when its options change; any other
    // YOLO-format directory is read as it is.
    if (!fs::exists(a.set) || fs::exists(a.set + "/.zoo_digits_stamp"))
      data::ensure_digit_detection(a.set, data::dataset_dir(a.data), dopt);
  }
  // The others read the set once rank 0 has written it (a rank 0 that fails aborts them all).
  if (ranks::size() > 1) ranks::world().barrier();
  const data::DetectionSet train_set = data::read_yolo(a.set, "train", kSize, kClasses);
  const data::DetectionSet val_set = data::read_yolo(a.set, "val", kSize, kClasses);

  M m(a.seed), ema_m(a.seed);
  yolo::ModelEMA<M> ema(ema_m);
  ema.reset(m);
  yolo::Hyp hyp;
  hyp.lr0 = a.lr0;
  yolo::group_sgd_for_t<M> opt(m, hyp);  // yolo::GroupSGD, or cuda::GroupSGD for a device model
  yolo::ComputeLoss<float> loss(kClasses, Detector<M>::Det::na, Detector<M>::levels(), Detector<M>::anchors(m),
                                yolo::LossHyp::scaled(Detector<M>::Det::nl, kClasses, kSize));
  data::AugmentOptions aug;
  aug.translate = a.translate;
  aug.scale_min = 1 - a.scale;
  aug.scale_max = 1 + a.scale;
  data::DetectionLoader loader(train_set, {.batch_size = a.batch, .shuffle = true, .drop_last = true,
                                           .seed = a.seed, .augment = aug, .rank = ranks::rank(),
                                           .world = ranks::size()});
  const yolo::Schedule sched{hyp, std::size_t(a.epochs), loader.num_batches(), a.batch};
  const std::string ckpt = a.out + "/checkpoint.safetensors", ema_file = a.out + "/ema.safetensors",
                    best_file = a.out + "/best.safetensors";
  int first_epoch = 0;
  std::int64_t ni = 0, last_opt_step = -1;
  double best = -1;
  if (a.resume) {
    check_variant(ckpt, name);
    const TrainState st = load_checkpoint(ckpt, m, opt);
    load_safetensors(ema_file, device::host_of(ema_m));
    device::host_changed(ema_m);
    first_epoch = int(st.epoch);
    ni = st.step;
    last_opt_step = ni - 1;
    for (const auto& [k, v] : st.extra) {
      if (k == "ema.updates") ema.updates = std::stoll(v);
      if (k == "best_fitness") best = std::stod(v);
    }
    std::printf("resumed %s after epoch %d (iteration %lld)\n", ckpt.c_str(), first_epoch,
                static_cast<long long>(ni));
  }
  // Every rank holds rank 0's weights (resumed: every rank read the same files; the EMA and
  // the optimizer's state are then equal too) and must agree on what shapes the run.
  if constexpr (!Cuda) distributed::replicate(ranks::world(), m, a.sync_bn);  // a device run is one process
  ranks::world().check_same("--seed", a.seed);
  ranks::world().check_same("--batch", a.batch);
  ranks::world().check_same("--epochs", std::uint64_t(a.epochs));
  ranks::world().check_same("the number of train images", train_set.size());
  ranks::world().check_same("the iteration resumed at", std::uint64_t(ni));
  zoo::Collective* const comm = ranks::comm();
  zoo::require_host_reduction<M>(comm);  // the reductions below are host loops
  using Net = typename host_model_t<M>::net_type;
  std::printf("%s: %zu parameters, %.2f GFLOPs/image at %zux%zu; %zu train / %zu val images (%s), batch %zu "
              "(accumulate to %zu), %d epochs, %d threads, %s\n",
              name.c_str(), std::size_t(Net::num_params), Net::flops / 1e9, kSize, kSize, train_set.size(),
              val_set.size(), a.set.c_str(), a.batch, sched.hyp.nbs, a.epochs, num_threads(),
              device::where(Cuda).c_str());
  if (ranks::size() > 1) {
    const std::size_t k = std::size_t(ranks::size()), lo = a.batch / k, hi = (a.batch + k - 1) / k;
    std::printf("data-parallel on %zu processes: %s images of each batch per process%s\n", k,
                (lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi)).c_str(),
                a.sync_bn ? ", BatchNorm synchronized" : "");
  }
  std::ofstream csv;
  if (ranks::root()) csv.open(a.out + "/results.csv", a.resume ? std::ios::app : std::ios::trunc);
  if (!a.resume) csv << "epoch,box,obj,cls,P,R,mAP50,mAP50-95,lr,seconds,ms_per_step,ms_per_image\n";

  std::vector<yolo::Target<float>> targets;
  targets.reserve(4096);
  Tensor<float> dpred;
  data::DetectionBatch b;
  zoo::Staged<M> x_in, out_back, dpred_in;  // where a device model reads the batch; its output and gradient cross
  const auto t_start = std::chrono::steady_clock::now();
  auto minutes = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count() / 60;
  };
  for (int epoch = first_epoch; epoch < a.epochs; ++epoch) {
    m.train();
    m.zero_grad();  // as train.py: a partial accumulation does not carry into the next epoch
    loader.start_epoch(std::uint64_t(epoch));
    io::Progress bar(loader.num_batches(),
                     {.epoch = epoch + 1, .epochs = a.epochs, .desc = name, .out = ranks::bars()});
    double sbox = 0, sobj = 0, scls = 0;
    std::size_t steps = 0;
    bool out_of_time = false;
    const auto t0 = std::chrono::steady_clock::now();
    while (!out_of_time && loader.next(b)) {
      const std::size_t acc = sched.apply(opt, std::size_t(ni), std::size_t(epoch));
      if (comm) comm->begin_summed_step();  // the loss is a sum over images (below)
      const Tensor<float>& out = out_back.back(m.forward(x_in(b.x)));  // the loss runs on the host
      dpred.resize(out.shape());
      targets.clear();
      for (const auto& t : b.targets) targets.push_back({t.image, t.cls, t.x, t.y, t.w, t.h});
      auto parts = loss(out.data(), dpred.data(), b.size(), targets);
      // The global batch's losses, on every rank, so a divergence stops them all at one step.
      // Each part is a mean over this rank's images (box, cls: over its targets) and its
      // gradient is the part times the rank's images, so the image-weighted mean is the
      // global objective per image, and total (Σ parts · images) is the ranks' sum.
      const double n_local = double(b.size());
      parts.box = float(ranks::mean(parts.box, n_local));
      parts.obj = float(ranks::mean(parts.obj, n_local));
      parts.cls = float(ranks::mean(parts.cls, n_local));
      if (ranks::size() > 1)
        parts.total = float((double(parts.box) + double(parts.obj) + double(parts.cls)) * double(b.global_size));
      guard::check_loss("yolo", epoch + 1, ni + 1,
                        {{"box", parts.box}, {"obj", parts.obj}, {"cls", parts.cls}, {"total", parts.total}},
                        ckpt);
      m.backward(dpred_in(dpred));
      if (ni - last_opt_step >= std::int64_t(acc)) {
        if (comm) {
          // Once per optimizer step, over the micro-batches accumulated since the last one.
          // What backward differentiates is ComputeLoss's total = (box + obj + cls)·bs, bs the
          // images of the call (loss.hpp): a sum over images in effect, as in train.py, which
          // under DDP multiplies by WORLD_SIZE to undo DDP's average. A batch's gradient is then
          // the plain sum of its shares' — reduce_gradients' n_r/G weights would make it about
          // K times too small. For the same reason each micro-batch is a summed step (weight()
          // 1), which is what synchronized BatchNorm's backward needs for a sum of the ranks' losses.
          // Clipping follows, on the summed gradient, alike on every rank.
          const auto p = m.parameters();
          comm->allreduce_sum(p.grad, p.size);
          average_buffers(comm, m.buffer_data(), m.buffer_size());  // before the EMA reads them
        }
        if (a.clip > 0) opt.clip_grad_norm(a.clip);
        opt.step();
        m.zero_grad();
        ema.update(m, ema.updates + 1);
        last_opt_step = ni;
      }
      ++ni, ++steps;
      sbox += parts.box, sobj += parts.obj, scls += parts.cls;
      char post[96];
      std::snprintf(post, sizeof post, "box=%.4f obj=%.4f cls=%.4f", sbox / steps, sobj / steps, scls / steps);
      bar.set_postfix(post);
      bar.update(parts.total / double(b.global_size));
      out_of_time = a.minutes > 0 && minutes() >= a.minutes;
      // Each rank has its own clock: all leave the loop at the step the first one stops.
      if (a.minutes > 0 && ranks::size() > 1) out_of_time = ranks::world().sum(out_of_time ? 1.0 : 0.0) > 0;
    }
    bar.close();
    // Running statistics of the micro-batches after the last optimizer step: the same on every rank.
    average_buffers(comm, m.buffer_data(), m.buffer_size());
    // The last update may have overflowed after the last loss was checked; before the EMA is evaluated.
    guard::check_state("yolo", epoch + 1, ni, m, opt, ckpt);
    guard::check_model("yolo", epoch + 1, ni, ema_m, ckpt, "the EMA's weights");
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // mAP, the CSV, the checkpoints and the pictures: rank 0 alone (no collective in there;
    // the EMA model is not synchronized, and eval mode would not use it).
    if (!ranks::root()) {
      if (out_of_time) break;
      continue;
    }
    double ms_img = 0;
    const auto r = evaluate(ema_m, val_set, 32, &ms_img);
    const double fit = r.fitness();
    std::printf("epoch %d/%d  box %.4f obj %.4f cls %.4f  ", epoch + 1, a.epochs, sbox / double(steps),
                sobj / double(steps), scls / double(steps));
    print_metrics("val", r);
    std::printf("  (%.0f s, %.0f ms/step, inference %.2f ms/image)\n", secs, 1e3 * secs / double(steps), ms_img);
    csv << epoch + 1 << "," << sbox / double(steps) << "," << sobj / double(steps) << "," << scls / double(steps)
        << "," << r.mp << "," << r.mr << "," << r.map50 << "," << r.map << "," << opt.lr << "," << secs << ","
        << 1e3 * secs / double(steps) << "," << ms_img << "\n";
    csv.flush();
    io::Metadata meta{{"model", name}, {"image_size", std::to_string(kSize)}, {"nc", std::to_string(kClasses)}};
    auto& ema_host = device::on_host(ema_m);  // the files are written from the host
    if (fit > best) {
      best = fit;
      save_safetensors(best_file, ema_host, meta);
    }
    save_safetensors(ema_file, ema_host, meta);
    TrainState st{.epoch = epoch + 1, .step = ni};
    st.extra = meta;
    st.extra.emplace_back("ema.updates", std::to_string(ema.updates));
    st.extra.emplace_back("best_fitness", std::to_string(best));
    save_checkpoint(ckpt, m, opt, st);
    val_picture(ema_m, val_set, a.out + "/val_epoch" + std::to_string(epoch + 1) + ".png");
    if (out_of_time) break;
  }
  std::printf("wrote %s/{results.csv,checkpoint.safetensors,ema.safetensors,best.safetensors,val_epoch*.png}\n",
              a.out.c_str());
  return 0;
}

template <class M>
int eval(const Args& a) {
  check_variant(a.checkpoint, variant_name(a));
  M m(0);
  load_safetensors(a.checkpoint, device::host_of(m));
  device::host_changed(m);
  const data::DetectionSet val_set = data::read_yolo(a.set, "val", kSize, kClasses);
  double ms = 0;
  const auto r = evaluate(m, val_set, 32, &ms);
  print_metrics((a.checkpoint + " on " + std::to_string(val_set.size()) + " val images").c_str(), r);
  std::printf("inference %.2f ms/image (batch 32, %d threads)\n", ms, num_threads());
  return 0;
}

template <class M>
int detect(const Args& a) {
  using Det = typename Detector<M>::Det;
  check_variant(a.checkpoint, variant_name(a));
  M model(0);
  load_safetensors(a.checkpoint, device::host_of(model));
  device::host_changed(model);
  Infer<M> m(model);  // detection only: no gradients
  fs::create_directories(a.out);
  Tensor<float> x({1, 3, kSize, kSize});
  for (const auto& file : a.detect) {
    const io::Image im = io::read_image(file);
    io::Letterbox lb;
    const io::Image sq = io::letterbox(im, int(kSize), &lb);
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t p = 0; p < kSize * kSize; ++p) x.data()[c * kSize * kSize + p] = float(sq.rgb[p * 3 + c]) / 255.f;
    const auto& out = m.forward(x);
    const auto dets = yolo::non_max_suppression(out.data(), 1, Det::rows, kClasses,
                                                {.conf_thres = a.conf, .iou_thres = 0.45});
    std::vector<data::Detection> boxes;
    for (const auto& d : dets[0]) {  // back to the picture's pixels
      auto unmap = [&](float v, int pad, int size) {
        return std::clamp(float((v - pad) / lb.scale), 0.f, float(size));
      };
      boxes.push_back({unmap(d.x1, lb.pad_x, im.width), unmap(d.y1, lb.pad_y, im.height),
                       unmap(d.x2, lb.pad_x, im.width), unmap(d.y2, lb.pad_y, im.height), d.conf, d.cls});
    }
    io::Image drawn = im;
    data::draw_detections(drawn, boxes);
    const std::string dst = a.out + "/" + fs::path(file).stem().string() + "_det.png";
    io::save_png(dst, drawn);
    std::printf("%s: %zu detections -> %s\n", file.c_str(), boxes.size(), dst.c_str());
    for (const auto& d : boxes)
      std::printf("  %d  %.2f  (%.1f, %.1f, %.1f, %.1f)\n", d.cls, double(d.conf), double(d.x1), double(d.y1),
                  double(d.x2), double(d.y2));
  }
  return 0;
}

// Cuda: the models are zoo::cuda::Models (--device cuda); the code is the same.
template <class Spec, bool Cuda>
int run(const Args& a) {
  using M = device::model_t<Cuda, Spec, Input>;
  if ((!a.detect.empty() || a.eval) && !ranks::root()) return 0;  // nothing to share out
  if (!a.detect.empty()) return detect<M>(a);
  if (a.eval) return eval<M>(a);
  return train<M, Cuda>(a);
}

template <bool Cuda>
int run_model(const Args& a) {
  if (a.model == "yolo") return run<yolo::YOLOv5n<kClasses>, Cuda>(a);
  if (a.akconv_n == 3) return run<yolo::YOLOv5nAKConv<kClasses, 3>, Cuda>(a);
  return run<yolo::YOLOv5nAKConv<kClasses, 5>, Cuda>(a);
}

}  // namespace example

int main(int argc, char** argv) {
  using namespace example;
  ranks::init(argc, argv);
  const Args a = parse(argc, argv);
  try {
#if ZOO_EXAMPLE_CUDA  // else device::check has refused --device cuda
    if (a.device == "cuda") return run_model<true>(a);
#endif
    return run_model<false>(a);
  } catch (const guard::Diverged& e) {
    return ranks::diverged(e);
  } catch (const std::exception& e) {
    return ranks::failed("yolo", e);
  }
}
