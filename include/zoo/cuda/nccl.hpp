// zoo/cuda/nccl.hpp — the data-parallel process group on GPUs: gradients all-reduced
// by NCCL between device buffers, one GPU per rank. MPI (zoo/distributed.hpp) starts the
// job and carries NCCL's unique id from rank 0 to the others; a world of one needs no MPI.
//
//   auto& world = zoo::distributed::init(argc, argv);
//   zoo::cuda::Nccl nccl(world, /*device=*/world.rank() % gpus_per_node);
//   nccl.begin_step(local_batch);                  // host allgather, as on the CPU
//   zoo::cuda::reduce_gradients(nccl, d_grad, n);  // scale by n_r/G on the device, ncclSum
//
// Every NCCL and CUDA status is checked and turned into an exception that names the call.
// Pointers given to allreduce_sum/broadcast are device pointers (host ones are an error
// NCCL reports). Needs CUDA's runtime and NCCL headers: include only from .cu units.
#pragma once
#include <cuda_runtime.h>
#include <nccl.h>
#include <thrust/device_ptr.h>
#include <thrust/execution_policy.h>
#include <thrust/transform.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/collective.hpp"
#include "../core/config.hpp"  // ZOO_HD
#include "../distributed.hpp"

namespace zoo::cuda {

inline void check_cuda(cudaError_t s, const char* call) {
  if (s != cudaSuccess) throw std::runtime_error(std::string("zoo::cuda: ") + call + " failed: " + cudaGetErrorString(s));
}
inline void check_nccl(ncclResult_t s, const char* call) {
  if (s != ncclSuccess) throw std::runtime_error(std::string("zoo::cuda: ") + call + " failed: " + ncclGetErrorString(s));
}

class Nccl : public Collective {
 public:
  // One communicator over the world's ranks; this rank uses GPU `device`.
  Nccl(distributed::World& w, int device) : world_(&w) {
    int count = 0;
    check_cuda(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    if (device < 0 || device >= count)
      throw std::runtime_error("zoo::cuda::Nccl: rank " + std::to_string(w.rank()) + " asks for GPU " +
                               std::to_string(device) + ", this node has " + std::to_string(count));
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
    ncclUniqueId id;
    if (w.rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    // The id is 128 opaque bytes: carried as doubles by the world's broadcast.
    std::vector<double> carrier((sizeof id + sizeof(double) - 1) / sizeof(double));
    std::memcpy(carrier.data(), &id, sizeof id);
    w.broadcast(carrier.data(), carrier.size(), 0);
    std::memcpy(&id, carrier.data(), sizeof id);
    check_nccl(ncclCommInitRank(&comm_, w.size(), id, w.rank()), "ncclCommInitRank");
    check_cuda(cudaStreamCreate(&stream_), "cudaStreamCreate");
  }
  Nccl(const Nccl&) = delete;
  Nccl& operator=(const Nccl&) = delete;
  ~Nccl() override {
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const override { return world_->rank(); }
  int size() const override { return world_->size(); }
  cudaStream_t stream() const { return stream_; }

  void allreduce_sum(float* v, std::size_t n) override { reduce(v, n, ncclFloat32); }
  void allreduce_sum(double* v, std::size_t n) override { reduce(v, n, ncclFloat64); }
  using Collective::allreduce_sum;
  void broadcast(float* v, std::size_t n, int root) override { bcast(v, n, ncclFloat32, root); }
  void broadcast(double* v, std::size_t n, int root) override { bcast(v, n, ncclFloat64, root); }
  // Sample counts live on the host: MPI's allgather, not NCCL's.
  void allgather(std::uint64_t mine, std::uint64_t* all) override { world_->allgather(mine, all); }

 private:
  void reduce(void* v, std::size_t n, ncclDataType_t t) {
    check_nccl(ncclAllReduce(v, v, n, t, ncclSum, comm_, stream_), "ncclAllReduce");
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void bcast(void* v, std::size_t n, ncclDataType_t t, int root) {
    check_nccl(ncclBroadcast(v, v, n, t, root, comm_, stream_), "ncclBroadcast");
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

  distributed::World* world_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

template <class T>
struct Scale {
  T w;
  ZOO_HD T operator()(T g) const { return g * w; }
};

// The device twin of zoo::reduce_gradients: ∇ ← Σ_r (n_r/G)·∇_r over a device gradient buffer.
template <class T>
void reduce_gradients(Nccl& c, T* grad, std::size_t n) {
  if (c.size() == 1) return;
  thrust::device_ptr<T> p(grad);
  thrust::transform(thrust::cuda::par.on(c.stream()), p, p + n, p, Scale<T>{static_cast<T>(c.weight())});
  c.allreduce_sum(grad, n);
}

}  // namespace zoo::cuda
