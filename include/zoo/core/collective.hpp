// zoo/core/collective.hpp — what data-parallel training asks of a group of processes,
// with no MPI in sight: layers (synchronized BatchNorm) and trainers (the GAN's) talk to
// this interface, and zoo/distributed.hpp implements it over MPI. A build without MPI
// never constructs one, and every caller treats a null Collective* as "one process".
//
// The batch of a step is shared out across ranks: rank r holds n_r of the global
// batch's G = Σ n_r samples, starting at offset o_r = Σ_{q<r} n_q. Each rank's loss is a
// mean over its n_r samples, so the gradient of the global batch's mean loss is
// Σ_r (n_r / G) · ∇L_r — `weight()` is this rank's n_r / G, and `reduce_gradients`
// scales by it before the sum. Equal shares make that the plain average of DDP.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "param.hpp"

namespace zoo {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In-place sums over every rank; every rank ends with the same bits.
  virtual void allreduce_sum(float* v, std::size_t n) = 0;
  virtual void allreduce_sum(double* v, std::size_t n) = 0;
  virtual void broadcast(float* v, std::size_t n, int root) = 0;
  virtual void broadcast(double* v, std::size_t n, int root) = 0;
  // all[r] = rank r's `mine`; all has size() entries.
  virtual void allgather(std::uint64_t mine, std::uint64_t* all) = 0;

  void allreduce_sum(std::vector<double>& v) { allreduce_sum(v.data(), v.size()); }

  // Every rank calls this once per step with its own sample count (a collective): it
  // sets the step's global batch, this rank's offset into it, and weight().
  void begin_step(std::size_t n_local) {
    counts_.resize(static_cast<std::size_t>(size()));
    allgather(n_local, counts_.data());
    global_ = 0, offset_ = 0;
    for (int r = 0; r < size(); ++r) {
      if (r < rank()) offset_ += counts_[static_cast<std::size_t>(r)];
      global_ += counts_[static_cast<std::size_t>(r)];
    }
    if (global_ == 0) throw std::logic_error("zoo::Collective::begin_step: no rank has a sample");
    local_ = n_local;
  }
  // A step whose loss is a sum over the global batch (YOLOv5's loss·bs), not a mean:
  // every rank's gradient counts fully, weight() = 1. No communication.
  void begin_summed_step() { global_ = local_ = offset_ = 0; }
  std::size_t global_batch() const { return global_; }
  std::size_t local_batch() const { return local_; }
  std::size_t offset() const { return offset_; }
  // n_r / G; 1 for a summed step (and before any begin_step).
  double weight() const { return global_ ? double(local_) / double(global_) : 1.0; }

 private:
  std::vector<std::uint64_t> counts_;
  std::size_t global_ = 0, local_ = 0, offset_ = 0;
};

// ∇ ← Σ_r weight_r · ∇_r over a model's flat gradient buffer (`ParamSpan`): one scaling
// pass and one all-reduce. A null or one-rank group leaves the gradients untouched.
template <class T>
void reduce_gradients(Collective* c, ParamSpan<T> p) {
  if (!c || c->size() == 1) return;
  const T w = static_cast<T>(c->weight());
  for (std::size_t i = 0; i < p.size; ++i) p.grad[i] *= w;
  c->allreduce_sum(p.grad, p.size);
}

// Running statistics (BatchNorm's mean and variance) averaged over ranks, so every rank
// evaluates and checkpoints the same model. Counters (num_batches_tracked) are equal on
// all ranks and stay so: K·v / K is v exactly (a division, not a product with 1/K).
template <class T>
void average_buffers(Collective* c, T* b, std::size_t n) {
  if (!c || c->size() == 1 || n == 0) return;
  c->allreduce_sum(b, n);
  const T k = static_cast<T>(c->size());
  for (std::size_t i = 0; i < n; ++i) b[i] /= k;
}

// Both, for a model after backward: what every data-parallel step does before its
// optimizer steps. A null or one-rank group does nothing.
// A device model's gradients live in device memory, which the host loops of
// reduce_model cannot touch (cuda/nccl.hpp reduces device buffers): the trainers call this
// before a step's first collective, so a device model in a group is refused at once.
template <class M>
void require_host_reduction(const Collective* c) {
  if constexpr (requires { typename M::host_model; })
    if (c && c->size() > 1)
      throw std::logic_error(
          "zoo: data-parallel training of a zoo::cuda model is not wired into the trainers; "
          "reduce its gradients with zoo::cuda::Nccl (zoo/cuda/nccl.hpp)");
}

template <class M>
void reduce_model(Collective* c, M& m) {
  require_host_reduction<M>(c);
  reduce_gradients(c, m.parameters());
  average_buffers(c, m.buffer_data(), m.buffer_size());
}

}  // namespace zoo
