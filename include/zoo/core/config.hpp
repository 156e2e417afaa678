// zoo/core/config.hpp — project-wide macros and the index type.
//
// ZOO_HD marks functions that run on the host and, under nvcc, on the device.
// Kernels shared by the CPU backend and the CUDA backend are written once as
// ZOO_HD functors (see zoo/cpu and zoo/cuda), so g++ must see an empty macro.
#pragma once
#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define ZOO_HD __host__ __device__
#else
#define ZOO_HD
#endif

// Loop unrolling hints in the spelling each front end knows (nvcc's warns on GCC's).
#define ZOO_PRAGMA(x) _Pragma(#x)
#if defined(__CUDACC__) || defined(__clang__)
#define ZOO_UNROLL(n) ZOO_PRAGMA(unroll n)
#elif defined(__GNUC__)
#define ZOO_UNROLL(n) ZOO_PRAGMA(GCC unroll n)
#else
#define ZOO_UNROLL(n)
#endif

// Eigen serves zoo's host-side GEMM and FID only; in a .cu translation unit it must not
// annotate itself for the device (its defaulted __host__ __device__ members and constexpr
// calls make nvcc warn in every consumer).
#if defined(__CUDACC__) && !defined(EIGEN_NO_CUDA)
#define EIGEN_NO_CUDA
#endif

#if defined(__GNUC__) || defined(__clang__)
#define ZOO_RESTRICT __restrict__
#define ZOO_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ZOO_RESTRICT
#define ZOO_ALWAYS_INLINE inline
#endif

namespace zoo {
using index_t = std::ptrdiff_t;
// Buffers are 64-byte aligned: one AVX-512 register, one cache line.
inline constexpr std::size_t kAlign = 64;
}  // namespace zoo
