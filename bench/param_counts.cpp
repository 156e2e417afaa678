// bench/param_counts.cpp — exact parameter and buffer counts of each zoo model, for the
// data-parallel cost model (docs/distributed.md). Everything printed is a
// static constexpr of zoo::Model (num_params, num_buffers, flops), except the BatchNorm
// layer count, for which each model is built once (not run); the types are spelled exactly as examples/*.cpp and bench/*.cpp do.
//
//   g++ -std=c++20 -O1 -fopenmp -Iinclude -isystem /usr/include/eigen3 \
//       bench/param_counts.cpp -o param_counts && ./param_counts > bench/results/2026-12-05_param_counts.txt
// (scripts/distributed_costmodel.py reads that file.)
//
// Compile one group at a time with -DPART=1..4 to keep memory low; without PART
// every group is compiled. Output: one line per model,
//   name params buffers detect_anchor_buffers bn_layers bn_channels fwd_flops_per_sample
// (buffers = Model::num_buffers: BatchNorm running_mean + running_var + num_batches_tracked,
// plus YOLO Detect's anchors; bn_* are counted by building the model once.)
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "zoo/graph/model.hpp"

#if !defined(PART) || PART == 1
#include "zoo/models/autoencoder.hpp"
#include "zoo/models/vae.hpp"
#endif
#if !defined(PART) || PART == 2
#include "zoo/models/gan.hpp"
#endif
#if !defined(PART) || PART == 3
#include "zoo/models/diffusion/context_unet.hpp"
#endif
#if !defined(PART) || PART == 4
#include "zoo/models/yolo/yolov5.hpp"
#endif

// The BatchNorm layers of a model, counted at run time by their running_mean buffers:
// (layers, Σ channels). Needed for the synchronized-BatchNorm term of the cost model
// (3 small all-reduces per BatchNorm layer per forward+backward).
template <class M>
std::pair<std::size_t, std::size_t> batch_norms() {
  auto m = std::make_unique<M>(1);
  std::size_t layers = 0, channels = 0;
  m->visit_buffers([&](const std::string& name, auto&&, auto*, std::size_t count) {
    if (name.size() >= 12 && name.compare(name.size() - 12, 12, "running_mean") == 0) ++layers, channels += count;
  });
  return {layers, channels};
}

template <class M>
void row(const char* name, std::size_t anchors = 0) {
  const auto [bn, bn_c] = batch_norms<M>();
  std::printf("%-14s %10zu %8zu %4zu %4zu %6zu %.6g\n", name, M::num_params, M::num_buffers, anchors, bn, bn_c,
              M::flops);
}

#if !defined(PART) || PART == 4
// YOLO's Detect head keeps its anchors (nl·na·2 floats) as buffers; they are
// constants, not running statistics, so they are reported apart.
template <class M>
void yolo_row(const char* name) {
  using Net = std::remove_cvref_t<decltype(std::declval<M&>().net())>;
  using Det = zoo::yolo::detect_of<Net>;
  row<M>(name, Det::num_buffers);
}
#endif

int main() {
  std::printf("# name params buffers anchors bn_layers bn_channels fwd_flops_per_sample\n");
  using zoo::Model;
  using zoo::Shape;
#if !defined(PART) || PART == 1
  namespace zm = zoo::models;
  // examples/autoencoders.cpp: mlp_ae, conv_ae, vae_mse, vae_bce.
  row<Model<zm::MlpAutoencoder, Shape<784>>>("mlp_ae");
  row<Model<zm::ConvAutoencoder, Shape<1, 28, 28>>>("conv_ae");
  row<Model<zm::VaeMse, Shape<784>>>("vae_mse");
  row<Model<zm::VaeBce, Shape<784>>>("vae_bce");
#endif
#if !defined(PART) || PART == 2
  {
    namespace zm = zoo::models;
    using Noise = Shape<zm::gan_noise_dim>;
    using Label = Shape<zm::gan_num_classes>;
    // examples/gan.cpp: vanilla and least_squares share MlpGenerator / MlpDiscriminator.
    row<Model<zm::MlpGenerator, Noise>>("gan_mlp.G");
    row<Model<zm::MlpDiscriminator, Shape<784>>>("gan_mlp.D");
    row<Model<zm::DcGenerator, Noise>>("dcgan.G");
    row<Model<zm::DcDiscriminator, Shape<1, 28, 28>>>("dcgan.D");
    row<Model<zm::CondDcGenerator, Noise, Label>>("cdcgan.G");
    row<Model<zm::CondDcDiscriminator, Shape<1, 28, 28>, Label>>("cdcgan.D");
  }
#endif
#if !defined(PART) || PART == 3
  {
    namespace zd = zoo::models::diffusion;
    // examples/diffusion.cpp: --n-feat in {16, 32, 64}, default 16; bench ddpm_train uses 64.
    row<zd::ContextUnetModel<1, 28, 16, 10>>("ddpm_nf16");
    row<zd::ContextUnetModel<1, 28, 32, 10>>("ddpm_nf32");
    row<zd::ContextUnetModel<1, 28, 64, 10>>("ddpm_nf64");
  }
#endif
#if !defined(PART) || PART == 4
  {
    namespace zy = zoo::yolo;
    using In = Shape<3, 128, 128>;  // examples/yolo.cpp: kSize 128, kClasses 10
    yolo_row<Model<zy::YOLOv5n<10>, In>>("yolo");
    yolo_row<Model<zy::YOLOv5nAKConv<10, 3>, In>>("yolo_akconv3");
    yolo_row<Model<zy::YOLOv5nAKConv<10, 5>, In>>("yolo_akconv5");
  }
#endif
}
