// bench/bench_models.cpp — one training step and one inference step of each model.
//
//   <model>_train   forward, loss, backward, optimizer: one step of the training loop
//   <model>_infer   forward in eval mode
//   <model>_fwd / _fwdbwd / _opt   the training step split (backward = fwdbwd − fwd)
//   yolo_train / yolo_akconv{3,5}_train   yolov5n (Conv / AKConv N = 3, 5), batch 16, 128×128
// Counters: items = images/s, flops = FLOP/s with the ≈3×-forward count of models.hpp.
#include <memory>
#include <type_traits>

#include "bench_common.hpp"
#include "models.hpp"

namespace {

constexpr std::size_t kBatch = 128;

// The seeds' batch sizes: 128, except the BCE VAE's 64 (its PyTorch twin uses the same).
template <class M>
constexpr std::size_t batch_of() {
  return std::is_same_v<M, zoo_bench::VAE_BCE> ? 64 : kBatch;
}

// Runs `what` on a model built once per benchmark (first steps size every buffer,
// so the timed loop is the steady state).
// flops(m) gives the FLOPs of one call of what(m).
template <class M, class F, class Flops>
void run(benchmark::State& s, F what, Flops flops) {
  const std::size_t batch = batch_of<M>();
  auto m = std::make_unique<M>(batch);
  for (int i = 0; i < 3; ++i) m->train();
  for (auto _ : s) {
    what(*m);
    benchmark::ClobberMemory();
  }
  zoo_bench::set_counters(s, flops(*m), batch, batch);
}
template <class M>
double train_flops(const M& m) {
  return m.step_flops();
}
template <class M>
double infer_flops(const M& m) {
  return m.infer_flops();
}
template <class M>
double no_flops(const M&) {
  return 0;
}

template <class M>
void register_model(const std::string& name) {
  using zoo_bench::register_threads;
  register_threads(name + "_train", [](benchmark::State& s, int) {
    run<M>(s, [](M& m) { m.train(); }, train_flops<M>);
  });
  register_threads(name + "_infer", [](benchmark::State& s, int) {
    run<M>(s, [](M& m) { m.infer(); }, infer_flops<M>);
  });
  if constexpr (requires(M& m) { m.fwdbwd(); }) {
    register_threads(name + "_fwd",
                     [](benchmark::State& s, int) { run<M>(s, [](M& m) { m.fwd(); }, infer_flops<M>); });
    register_threads(name + "_fwdbwd",
                     [](benchmark::State& s, int) { run<M>(s, [](M& m) { m.fwdbwd(); }, train_flops<M>); });
    register_threads(name + "_opt",
                     [](benchmark::State& s, int) { run<M>(s, [](M& m) { m.opt(); }, no_flops<M>); });
  } else {
    register_threads(name + "_dstep",
                     [](benchmark::State& s, int) { run<M>(s, [](M& m) { m.d_step(); }, no_flops<M>); });
    register_threads(name + "_gstep",
                     [](benchmark::State& s, int) { run<M>(s, [](M& m) { m.g_step(); }, no_flops<M>); });
  }
}

// The YOLO training step at its own batch (YoloTrain::kBatch); one object reused, so the
// timed loop allocates nothing.
template <class M>
void register_yolo(const std::string& name) {
  zoo_bench::register_threads(name + "_train", [](benchmark::State& s, int) {
    auto m = std::make_unique<M>(M::kBatch);
    for (int i = 0; i < 3; ++i) m->train();
    for (auto _ : s) {
      m->train();
      benchmark::ClobberMemory();
    }
    zoo_bench::set_counters(s, m->step_flops(), M::kBatch, M::kBatch);
  });
}

const bool registered = [] {
  register_model<zoo_bench::AE>("ae");
  register_model<zoo_bench::VAE>("vae");
  register_model<zoo_bench::VAE_BCE>("vae_bce");
  register_model<zoo_bench::GAN>("gan");
  register_yolo<zoo_bench::YoloTrain<zoo::yolo::YOLOv5n<10>>>("yolo");
  register_yolo<zoo_bench::YoloTrain<zoo::yolo::YOLOv5nAKConv<10, 3>>>("yolo_akconv3");
  register_yolo<zoo_bench::YoloTrain<zoo::yolo::YOLOv5nAKConv<10, 5>>>("yolo_akconv5");
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
