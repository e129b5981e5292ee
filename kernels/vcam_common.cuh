// Helpers shared by every vcam kernel: fp16 storage, pixel formats, BT.601 colour conversion.
//
// Rules for all kernels (they are what make the host emulation and the CPU reference comparisons meaningful):
//  - one thread per output pixel, no shared memory, no cooperation between threads;
//  - every access is bounds-checked against the image size, rows are addressed through a byte pitch;
//  - the arithmetic follows vcam/ops in the same order, compiled without FMA contraction (--fmad=false).
#pragma once

#ifdef VCAM_HOST_EMULATION
typedef __half vcam_half;
static inline vcam_half vcam_f2h(float f) { return __float2half_rn(f); }
static inline float vcam_h2f(vcam_half h) { return __half2float(h); }
#else
// The NVRTC wheel ships no cuda_fp16.h: keep binary16 as raw bits and convert with PTX (round to nearest even).
typedef unsigned short vcam_half;
__device__ __forceinline__ vcam_half vcam_f2h(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
__device__ __forceinline__ float vcam_h2f(vcam_half h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
#define VCAM_EXPORT(name)
#endif

typedef unsigned char vcam_u8;

// Output formats of the final pass (the virtual camera's native layout).
#define VCAM_FMT_BGR 0   // packed BGR, one plane
#define VCAM_FMT_I420 1  // Y plane, U plane, V plane (2x2 subsampled chroma) - v4l2loopback on Linux
#define VCAM_FMT_NV12 2  // Y plane, interleaved UV plane - OBS virtual camera on Windows

__device__ __forceinline__ int vcam_clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Border index without repeating the edge pixel (OpenCV BORDER_REFLECT_101, numpy "reflect"), for |overshoot| < n.
__device__ __forceinline__ int vcam_reflect101(int i, int n) {
    if (n == 1) return 0;
    if (i < 0) return -i;
    if (i >= n) return 2 * n - 2 - i;
    return i;
}

__device__ __forceinline__ vcam_u8 vcam_sat_u8(int v) { return (vcam_u8)(v < 0 ? 0 : (v > 255 ? 255 : v)); }

__device__ __forceinline__ const vcam_u8* vcam_row(const vcam_u8* base, int pitch, int y) {
    return base + (long long)y * pitch;
}

__device__ __forceinline__ vcam_u8* vcam_row_w(vcam_u8* base, int pitch, int y) {
    return base + (long long)y * pitch;
}

// ---- BT.601 limited range, OpenCV's fixed point (cv::cvtColor), so results match it bit for bit ----------------
// YUV -> BGR (COLOR_YUV2BGR_NV12 / _YUYV): 20-bit coefficients, rounding by adding half before the shift.
#define VCAM_YUV_SHIFT 20
#define VCAM_CY 1220542
#define VCAM_CUB 2116026
#define VCAM_CUG (-409993)
#define VCAM_CVG (-852492)
#define VCAM_CVR 1673527

__device__ __forceinline__ void vcam_yuv_to_bgr(int y, int u, int v, vcam_u8* b, vcam_u8* g, vcam_u8* r) {
    const int uu = u - 128, vv = v - 128;
    const int half = 1 << (VCAM_YUV_SHIFT - 1);
    const int ruv = half + VCAM_CVR * vv;
    const int guv = half + VCAM_CVG * vv + VCAM_CUG * uu;
    const int buv = half + VCAM_CUB * uu;
    const int yy = (y > 16 ? y - 16 : 0) * VCAM_CY;
    *b = vcam_sat_u8((yy + buv) >> VCAM_YUV_SHIFT);
    *g = vcam_sat_u8((yy + guv) >> VCAM_YUV_SHIFT);
    *r = vcam_sat_u8((yy + ruv) >> VCAM_YUV_SHIFT);
}

// BGR -> YUV 4:2:0 (COLOR_BGR2YUV_I420): Y per pixel; U and V from the top-left pixel of each 2x2 block, as
// OpenCV does, so one thread per pixel needs no neighbours.
#define VCAM_CRY 269484
#define VCAM_CGY 528482
#define VCAM_CBY 102760
#define VCAM_CRU (-155188)
#define VCAM_CGU (-305135)
#define VCAM_CBU 460324
#define VCAM_CGV (-385875)
#define VCAM_CBV (-74448)

__device__ __forceinline__ vcam_u8 vcam_bgr_to_y(int b, int g, int r) {
    const int half = 1 << (VCAM_YUV_SHIFT - 1);
    return vcam_sat_u8((VCAM_CRY * r + VCAM_CGY * g + VCAM_CBY * b + half + (16 << VCAM_YUV_SHIFT)) >> VCAM_YUV_SHIFT);
}

__device__ __forceinline__ vcam_u8 vcam_bgr_to_u(int b, int g, int r) {
    const int half = 1 << (VCAM_YUV_SHIFT - 1);
    return vcam_sat_u8((VCAM_CRU * r + VCAM_CGU * g + VCAM_CBU * b + half + (128 << VCAM_YUV_SHIFT)) >>
                       VCAM_YUV_SHIFT);
}

__device__ __forceinline__ vcam_u8 vcam_bgr_to_v(int b, int g, int r) {
    const int half = 1 << (VCAM_YUV_SHIFT - 1);
    return vcam_sat_u8((VCAM_CBU * r + VCAM_CGV * g + VCAM_CBV * b + half + (128 << VCAM_YUV_SHIFT)) >>
                       VCAM_YUV_SHIFT);
}

// Write pixel (x, y) of a width x height image in format fmt. Planes: BGR p0; I420 p0=Y p1=U p2=V;
// NV12 p0=Y p1=UV. Chroma rows/columns are ceil(size / 2); the even (top-left) pixel of each block writes them.
__device__ __forceinline__ void vcam_store_pixel(int fmt, int x, int y, vcam_u8 b, vcam_u8 g, vcam_u8 r,
                                                 vcam_u8* p0, int pitch0, vcam_u8* p1, int pitch1, vcam_u8* p2,
                                                 int pitch2) {
    if (fmt == VCAM_FMT_BGR) {
        vcam_u8* o = vcam_row_w(p0, pitch0, y) + 3 * x;
        o[0] = b;
        o[1] = g;
        o[2] = r;
        return;
    }
    vcam_row_w(p0, pitch0, y)[x] = vcam_bgr_to_y(b, g, r);
    if ((x & 1) || (y & 1)) return;
    const vcam_u8 u = vcam_bgr_to_u(b, g, r), v = vcam_bgr_to_v(b, g, r);
    if (fmt == VCAM_FMT_I420) {
        vcam_row_w(p1, pitch1, y >> 1)[x >> 1] = u;
        vcam_row_w(p2, pitch2, y >> 1)[x >> 1] = v;
    } else {
        vcam_u8* o = vcam_row_w(p1, pitch1, y >> 1) + (x & ~1);
        o[0] = u;
        o[1] = v;
    }
}

// Read pixel (x, y) of a YUYV (Y0 U Y1 V) or NV12 image as BGR.
__device__ __forceinline__ void vcam_load_yuyv(const vcam_u8* src, int pitch, int x, int y, vcam_u8* b, vcam_u8* g,
                                               vcam_u8* r) {
    const vcam_u8* p = vcam_row(src, pitch, y) + 2 * (x & ~1);
    vcam_yuv_to_bgr(p[(x & 1) ? 2 : 0], p[1], p[3], b, g, r);
}

__device__ __forceinline__ void vcam_load_nv12(const vcam_u8* ysrc, int ypitch, const vcam_u8* uv, int uvpitch, int x,
                                               int y, vcam_u8* b, vcam_u8* g, vcam_u8* r) {
    const vcam_u8* c = vcam_row(uv, uvpitch, y >> 1) + (x & ~1);
    vcam_yuv_to_bgr(vcam_row(ysrc, ypitch, y)[x], c[0], c[1], b, g, r);
}
