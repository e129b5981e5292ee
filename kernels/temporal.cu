// Temporal in-between frames: move the last network output to the current frame along a flow field and,
// optionally, blend it with a newer output. One thread per low-resolution pixel.
//
// The warp is cv::remap(src, x + flow_x, y + flow_y, INTER_LINEAR, BORDER_REPLICATE) on float32 planes, as the
// CPU engine's _warp does. OpenCV 5 samples float maps at full float precision with a lerp per axis; on AVX2
// machines its vector code fuses each lerp into an FMA, which fmaf() reproduces bit for bit (fmaf is honoured
// even with --fmad=false, which only stops the compiler from contracting a*b+c on its own).
#include "vcam_common.cuh"

__device__ __forceinline__ float vcam_lerp(float a, float b, float t) { return fmaf(b - a, t, a); }

// prev, cur, out: (3, pad_h, pad_w) planar float32 (their top-left w x h is used and written);
// flow: (h, w, 2) float32, in pixels (x, y), pointing from the current frame into prev.
// out = warp(prev) when cur is null or alpha == 0, else lerp(warp(prev), cur, alpha).
extern "C" __global__ void vcam_warp_blend(const float* __restrict__ prev, const float* __restrict__ flow, int w,
                                           int h, int pad_w, int pad_h, const float* __restrict__ cur, float alpha,
                                           float* __restrict__ out) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    const long long f = ((long long)y * w + x) * 2;
    const float mx = (float)x + flow[f];
    const float my = (float)y + flow[f + 1];
    const float fx0 = floorf(mx), fy0 = floorf(my);
    const float tx = mx - fx0, ty = my - fy0;
    // Far outside coordinates (a broken flow) clamp like BORDER_REPLICATE instead of overflowing the int cast.
    const int ix = (int)fminf(fmaxf(fx0, -1.f), (float)w), iy = (int)fminf(fmaxf(fy0, -1.f), (float)h);
    const int x0 = vcam_clampi(ix, 0, w - 1), x1 = vcam_clampi(ix + 1, 0, w - 1);
    const int y0 = vcam_clampi(iy, 0, h - 1), y1 = vcam_clampi(iy + 1, 0, h - 1);
    const long long plane = (long long)pad_w * pad_h;
    const long long o = (long long)y * pad_w + x;
    for (int c = 0; c < 3; ++c) {
        const float* p = prev + c * plane;
        const float a = vcam_lerp(p[(long long)y0 * pad_w + x0], p[(long long)y0 * pad_w + x1], tx);
        const float b = vcam_lerp(p[(long long)y1 * pad_w + x0], p[(long long)y1 * pad_w + x1], tx);
        float v = vcam_lerp(a, b, ty);
        if (cur && alpha != 0.f) v = vcam_lerp(v, cur[c * plane + o], alpha);
        out[c * plane + o] = v;
    }
}
VCAM_EXPORT(vcam_warp_blend)
