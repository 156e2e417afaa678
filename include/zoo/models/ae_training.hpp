// zoo/models/ae_training.hpp — one training/evaluation step for the autoencoders
// and VAEs, shared by the example programs, the tests and the benchmarks.
//
// Autoencoder loss: MSE(sum)/N (the MLP seed) or MSE(mean) (the conv seed).
// VAE loss per image: [recon(sum) + KL(sum)] / N, recon = MSE or BCE.
// Each step: zero_grad, forward, loss + gradient, backward, optimizer step.
// The scratch tensors live in the step object, so steps allocate nothing.
// Written once over the model type: M is a zoo::Model (host tensors) or a zoo::cuda::Model
// (device tensors; the losses are found by argument-dependent lookup).
// Data-parallel (`comm` set, zoo/distributed.hpp): x is this rank's share of the batch;
// the gradients are reduced over ranks (weighted by share) before the optimizer steps.
#pragma once
#include "../core/collective.hpp"
#include "../core/tensor.hpp"
#include "../losses/losses.hpp"

namespace zoo::models {

enum class Recon { mse, bce };

struct AeLoss {
  float total = 0, recon = 0, kl = 0;
};

// Autoencoders with outputs (reconstruction[, code]).
template <class M>
struct AutoencoderStep {
  using tensor = typename M::tensor_type;
  Reduction reduction = Reduction::sum;  // sum/N (MLP seed) or mean (conv seed)
  Collective* comm = nullptr;            // data-parallel: the process group
  tensor dy;

  float loss(M& m, const tensor& x, bool with_grad) {
    const auto& y = m.forward(x);
    // sum/N: the 1/N rides in the loss's own pass (no second pass over dy).
    const float per_image =
        reduction == Reduction::sum ? 1.0f / static_cast<float>(x.batch()) : 1.0f;
    return mse_loss(y, x, with_grad ? &dy : nullptr, reduction, per_image);
  }
  template <class Opt>
  float step(M& m, Opt& opt, const tensor& x) {
    require_host_reduction<M>(comm);
    if (comm) comm->begin_step(x.batch());
    m.zero_grad();
    const float l = loss(m, x, true);
    std::array<const tensor*, M::num_outputs> d{};
    d[0] = &dy;
    m.backward_ptrs(d);
    reduce_model(comm, m);  // null comm: nothing
    opt.step();
    return l;
  }
};

// VAEs with outputs (reconstruction, μ, log σ²).
template <class M>
struct VaeStep {
  using tensor = typename M::tensor_type;
  Recon recon = Recon::bce;
  Collective* comm = nullptr;  // data-parallel: the process group
  tensor drecon, dmu, dlogvar;

  AeLoss loss(M& m, const tensor& x, bool with_grad) {
    const auto& y = m.forward(x);
    const float inv_n = 1.0f / static_cast<float>(x.batch());
    AeLoss l;
    l.recon = recon == Recon::bce
                  ? bce_loss(y, x, with_grad ? &drecon : nullptr, Reduction::sum, inv_n)
                  : mse_loss(y, x, with_grad ? &drecon : nullptr, Reduction::sum, inv_n);
    l.kl = kl_normal_loss(m.output(1), m.output(2), with_grad ? &dmu : nullptr,
                          with_grad ? &dlogvar : nullptr, Reduction::sum, inv_n);
    l.total = l.recon + l.kl;
    return l;
  }
  template <class Opt>
  AeLoss step(M& m, Opt& opt, const tensor& x) {
    require_host_reduction<M>(comm);
    if (comm) comm->begin_step(x.batch());
    m.zero_grad();
    const AeLoss l = loss(m, x, true);
    m.backward(drecon, dmu, dlogvar);
    reduce_model(comm, m);  // null comm: nothing
    opt.step();
    return l;
  }
};

}  // namespace zoo::models
