// Host emulation of the CUDA execution model, for running kernels/*.cu on the CPU in tests.
//
// The same .cu source that nvcc/NVRTC compile for the GPU is compiled by g++ with this header force-included
// (-include emulation.h -DVCAM_HOST_EMULATION). Kernels then run sequentially, one "thread" at a time, over the
// whole grid. That checks index arithmetic, bounds checks and floating-point results (bit for bit, with FMA
// contraction off on both sides); it cannot check races, coalescing or launch limits. Only one-thread-per-pixel
// kernels are meaningful here: shared memory and barriers are compile errors, so a kernel that cooperates between
// threads cannot silently pass.
#pragma once

#ifndef VCAM_HOST_EMULATION
#error "emulation.h is for host builds only (-DVCAM_HOST_EMULATION)"
#endif

#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

// ---- qualifiers -------------------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...)

// Cooperation between threads cannot be emulated by a sequential loop: make it fail to compile.
#define __shared__ vcam_emulation_has_no_shared_memory_use_one_thread_per_pixel
#define __syncthreads() static_assert(false, "__syncthreads() is not emulated: kernels must be one thread per pixel")
#define __syncwarp(...) static_assert(false, "__syncwarp() is not emulated: kernels must be one thread per pixel")

// ---- built-in variables ------------------------------------------------------------------------------------------
struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// thread_local so that a test harness may run launches from several threads without them seeing each other's ids.
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};

// ---- fp16: the GPU's binary16 with round-to-nearest-even conversions ---------------------------------------------
typedef _Float16 __half;
static inline __half __float2half_rn(float f) { return static_cast<_Float16>(f); }
static inline float __half2float(__half h) { return static_cast<float>(h); }

// ---- intrinsics with exact host equivalents ----------------------------------------------------------------------
static inline int __float2int_rd(float f) { return static_cast<int>(std::floor(f)); }
static inline int __float2int_rz(float f) { return static_cast<int>(f); }
static inline int __float2int_rn(float f) { return static_cast<int>(std::nearbyint(f)); }  // default mode: ties to even
static inline float __saturatef(float f) { return f < 0.0f ? 0.0f : (f > 1.0f ? 1.0f : f); }

// ---- the launcher ------------------------------------------------------------------------------------------------
// Arguments arrive as cuLaunchKernel's kernelParams do (an array of pointers to each argument's value), so Python
// packs them once, the same way for the GPU and for this emulation.
template <typename... A, std::size_t... I>
static inline void vcam_emu_call(void (*kernel)(A...), void** args, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(args[I])...);
}

template <typename... A>
static inline void vcam_emu_launch(void (*kernel)(A...), dim3 grid, dim3 block, void** args) {
    gridDim = grid;
    blockDim = block;
    for (unsigned int bz = 0; bz < grid.z; ++bz)
        for (unsigned int by = 0; by < grid.y; ++by)
            for (unsigned int bx = 0; bx < grid.x; ++bx) {
                blockIdx = uint3{bx, by, bz};
                for (unsigned int tz = 0; tz < block.z; ++tz)
                    for (unsigned int ty = 0; ty < block.y; ++ty)
                        for (unsigned int tx = 0; tx < block.x; ++tx) {
                            threadIdx = uint3{tx, ty, tz};
                            vcam_emu_call(kernel, args, std::index_sequence_for<A...>{});
                        }
            }
}

// One exported C entry point per kernel: vcam_emu_<name>(grid xyz, block xyz, kernelParams).
#define VCAM_EXPORT(name)                                                                                       \
    extern "C" void vcam_emu_##name(unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,          \
                                    unsigned int by, unsigned int bz, void** args) {                             \
        vcam_emu_launch(name, dim3(gx, gy, gz), dim3(bx, by, bz), args);                                         \
    }
