// The CUDA backend's tests on a GPU: tests/thrust/test_cuda_backend.cpp (every device layer,
// loss, optimizer and model against the CPU backend) built by nvcc, so Thrust's system is
// CUDA, pointers are device pointers and the GEMMs are cuBLAS.
//
// Build:  nvcc -std=c++20 -O2 -arch=sm_90 -Iinclude -Itests -isystem /usr/include/eigen3
//           -Xcompiler=-fopenmp -DZOO_USE_CBLAS tests/cuda/cuda_backend.cu -lcublas -lcublasLt -lopenblas
// Run:    with no GPU (or no driver) it says so in one line and exits 0: CI builds it wherever
//         nvcc exists, and scripts/gpu_check.sh runs it on a GPU.
#define DOCTEST_CONFIG_IMPLEMENT
#include "../thrust/test_cuda_backend.cpp"

#include <cstdio>

int main(int argc, char** argv) {
  std::string why;
  if (!zoo::cuda::device_available(&why)) {
    std::printf("cuda_backend: not run: %s\n", why.c_str());
    return 0;
  }
  std::printf("cuda_backend on %s\n", zoo::cuda::device_name().c_str());
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
