// zoo/core/vendor.hpp — the third-party headers zoo computes with (Eigen for GEMM and FID,
// xsimd for SIMD math, the x86 intrinsics), included in one place.
//
// g++ 12 warns "'__Y' is used uninitialized" from inside its own avx512fintrin.h (the
// _mm512_undefined_* idiom) wherever Eigen or xsimd inline an AVX-512 intrinsic; the warning
// is a compiler false positive (it is about the intrinsic header, not the caller). A
// diagnostic pragma covers the lines it encloses, so the intrinsic headers are first
// included here, between push and pop, and zoo's own code keeps every warning.
#pragma once
#include "config.hpp"  // EIGEN_NO_CUDA in .cu files, before Eigen

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif
#include <Eigen/Core>
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
