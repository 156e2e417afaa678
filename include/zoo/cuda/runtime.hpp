// zoo/cuda/runtime.hpp — device memory, copies and status checks for the CUDA backend.
//
// Where the code runs is Thrust's device system. Under nvcc it is CUDA: pointers are
// cudaMalloc'ed device pointers and every call's status is checked. Built by g++ with
// -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP (or CPP), the "device" is the host:
// the same functors, layers and models run on the CPU, which is how tests/thrust/ checks
// the backend against the CPU backend on machines with no GPU (ZOO_CUDA_DEVICE is 0).
#pragma once
#include <thrust/copy.h>
#include <thrust/execution_policy.h>
#include <thrust/fill.h>

#include <cstddef>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "../core/config.hpp"

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
#define ZOO_CUDA_DEVICE 1
#include <cuda_runtime.h>
#else
#define ZOO_CUDA_DEVICE 0
#endif

namespace zoo::cuda {

// Every failed CUDA, cuBLAS or cuDNN call, and every device allocation that fails, throws
// this, with the call's name and the status's text.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#if ZOO_CUDA_DEVICE
inline void check(cudaError_t s, const char* call) {
  if (s != cudaSuccess)
    throw Error(std::string("zoo::cuda: ") + call + " failed: " + cudaGetErrorString(s) + " (" +
                cudaGetErrorName(s) + ")");
}
#endif

// Whether a device is there to run on, and if not, why (one line, for --device cuda).
inline bool device_available(std::string* why = nullptr) {
#if ZOO_CUDA_DEVICE
  int count = 0;
  const cudaError_t s = cudaGetDeviceCount(&count);
  if (s != cudaSuccess || count == 0) {
    if (why)
      *why = s != cudaSuccess ? std::string("no usable CUDA driver or device (cudaGetDeviceCount: ") +
                                    cudaGetErrorString(s) + ")"
                              : std::string("no CUDA device found");
    (void)cudaGetLastError();  // clear the sticky error for later calls
    return false;
  }
  return true;
#else
  if (why) *why = "built with Thrust's host device system: the \"device\" is this CPU";
  return true;
#endif
}
// A one-line description of the device (its name and memory), for logs.
inline std::string device_name() {
#if ZOO_CUDA_DEVICE
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, dev), "cudaGetDeviceProperties");
  return std::string(p.name) + ", " + std::to_string(p.totalGlobalMem >> 20) + " MiB, sm_" +
         std::to_string(p.major) + std::to_string(p.minor);
#else
  return "the host (Thrust's OpenMP/C++ device system)";
#endif
}
// Throws Error naming `who` when no device is there (examples' --device cuda).
inline void require_device(const std::string& who) {
  std::string why;
  if (!device_available(&why)) throw Error(who + ": --device cuda, but " + why);
}

// Raw device memory. A failed allocation names the bytes asked for; callers that know
// more (a model's name) add it.
inline void* device_alloc(std::size_t bytes) {
  if (bytes == 0) return nullptr;
#if ZOO_CUDA_DEVICE
  void* p = nullptr;
  const cudaError_t s = cudaMalloc(&p, bytes);
  if (s != cudaSuccess) {
    (void)cudaGetLastError();
    throw Error("zoo::cuda: cudaMalloc of " + std::to_string(bytes) +
                " bytes failed: " + cudaGetErrorString(s));
  }
  return p;
#else
  void* p = std::aligned_alloc(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
  if (!p)
    throw Error("zoo::cuda: allocation of " + std::to_string(bytes) + " bytes of (host) device "
                "memory failed");
  return p;
#endif
}
inline void device_free(void* p) noexcept {
#if ZOO_CUDA_DEVICE
  if (p) (void)cudaFree(p);
#else
  std::free(p);
#endif
}

// Host → device, device → host and device → device copies of `count` values.
template <class T>
void copy_to_device(const T* host, std::size_t count, T* dev) {
  if (count == 0) return;
#if ZOO_CUDA_DEVICE
  check(cudaMemcpy(dev, host, count * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy (to device)");
#else
  std::copy(host, host + count, dev);
#endif
}
template <class T>
void copy_to_host(const T* dev, std::size_t count, T* host) {
  if (count == 0) return;
#if ZOO_CUDA_DEVICE
  check(cudaMemcpy(host, dev, count * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy (to host)");
#else
  std::copy(dev, dev + count, host);
#endif
}

// Kernel launches through Thrust report errors by throwing thrust::system_error; this
// turns a launch's asynchronous error into Error at the next check.
inline void sync(const char* what) {
#if ZOO_CUDA_DEVICE
  check(cudaDeviceSynchronize(), what);
#else
  (void)what;
#endif
}

// Device memory of `size()` values, grown by resize and never shrunk (capacity kept, as
// Buffer's: a training step on a batch size seen before allocates nothing). Contents are
// not kept across a growth: callers size before they write.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) { resize(n); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)), cap_(std::exchange(o.cap_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      device_free(p_);
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
      cap_ = std::exchange(o.cap_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { device_free(p_); }

  void resize(std::size_t n) {
    if (n > cap_) {
      T* q = static_cast<T*>(device_alloc(n * sizeof(T)));
      device_free(p_);
      p_ = q;
      cap_ = n;
    }
    n_ = n;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  std::size_t capacity() const { return cap_; }
  bool empty() const { return n_ == 0; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0, cap_ = 0;
};

}  // namespace zoo::cuda
