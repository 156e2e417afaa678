// zoo::cuda::Nccl on GPUs: each rank fills a device buffer with its rank + 1, holds rank + 1
// samples of the step, and reduce_gradients must leave Σ_r (r + 1)·(r + 1)/G in every value
// (G = Σ_r (r + 1)). One GPU per rank (NCCL refuses two ranks on one device):
//   mpirun -np K nccl_allreduce      # K GPUs
//   nccl_allreduce                   # a world of one: no MPI needed, the buffer is unchanged
// CI compiles and links it wherever nvcc exists (tests/portability); scripts/gpu_check.sh
// runs it on a machine with a GPU. Exit status 0 when every value is right.
#include <zoo/cuda/nccl.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  auto& world = zoo::distributed::init(argc, argv);
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus == 0) {
    std::fprintf(stderr, "nccl_allreduce: no GPU or no CUDA driver on this machine\n");
    return 2;
  }
  try {
    zoo::cuda::Nccl nccl(world, world.rank() % gpus);
    const std::size_t n = std::size_t{1} << 22;  // 16 MB of floats
    const int r = world.rank(), k = world.size();
    std::vector<float> host(n, float(r + 1));
    float* dev = nullptr;
    zoo::cuda::check_cuda(cudaMalloc(&dev, n * sizeof(float)), "cudaMalloc");
    zoo::cuda::check_cuda(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
    nccl.begin_step(static_cast<std::size_t>(r + 1));
    cudaEvent_t t0, t1;
    cudaEventCreate(&t0), cudaEventCreate(&t1);
    cudaEventRecord(t0, nccl.stream());
    zoo::cuda::reduce_gradients(nccl, dev, n);
    cudaEventRecord(t1, nccl.stream());
    cudaEventSynchronize(t1);
    float ms = 0;
    cudaEventElapsedTime(&ms, t0, t1);
    zoo::cuda::check_cuda(cudaMemcpy(host.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
    cudaFree(dev);
    double g = 0, want = 0;
    for (int q = 0; q < k; ++q) g += q + 1;
    for (int q = 0; q < k; ++q) want += (q + 1.0) * (q + 1.0) / g;
    if (k == 1) want = 1;
    std::size_t bad = 0;
    for (float v : host) bad += std::abs(v - want) > 1e-5 * want;
    std::printf("rank %d of %d: %zu of %zu values wrong (want %.6f); scale + all-reduce of %.0f MB: %.3f ms\n", r, k,
                bad, n, want, n * 4 / 1e6, ms);
    return bad == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    world.fail(std::string("nccl_allreduce: ") + e.what());
    std::fprintf(stderr, "nccl_allreduce: %s\n", e.what());
    return 1;
  }
}
