// Fast guided filter (vcam/ops/guided.py), strength blend and output conversion, one thread per pixel, 3 passes:
//   1. vcam_gf_coeffs (low res):  3x3 box means of I, I*I, p, I*p by direct window sums -> A, b per channel;
//   2. vcam_gf_smooth (low res):  A' = box(A) * s, b' = box(b) * 255 s;
//   3. vcam_gf_apply (full res):  out = round(up(A') * gray + up(b') [+ (1 - s) * frame]) in the output format.
// Box filter: OpenCV's boxFilter on float32 sums in double and scales by 1/(k*k) in double; the window sum of a few
// neighbouring floats is exact in double, so a direct sum gives the same bits as OpenCV's running sums.
// Borders: reflect without repeating the edge (BORDER_REFLECT_101). Upsampling: bilinear with OpenCV's
// INTER_LINEAR coordinates (half-pixel centres, clamped edges), horizontal then vertical, float32.
// Layouts: guide (h, w) float32; network output planar RGB (3, h, w) float32; A, b, A', b' interleaved BGR
// (h, w, 3) float32 like the CPU reference's arrays; frame BGR uint8 pitched.
#include "vcam_common.cuh"
#include "vcam_params.h"

#define VCAM_GF_K (2 * VCAM_GF_RADIUS + 1)

// Window means around (x, y) of I, I*I, and per BGR channel c of p_c and I*p_c.
// The network output is (3, pad_h, pad_w) (sizes rounded up to the network's multiple); its top-left w x h is used.
extern "C" __global__ void vcam_gf_coeffs(const float* __restrict__ guide, const float* __restrict__ stylized,
                                          int w, int h, int pad_w, int pad_h, float* __restrict__ A,
                                          float* __restrict__ B) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    const long long plane = (long long)pad_w * pad_h;
    double sI = 0.0, sII = 0.0, sp[3] = {0.0, 0.0, 0.0}, sIp[3] = {0.0, 0.0, 0.0};
    for (int dy = -VCAM_GF_RADIUS; dy <= VCAM_GF_RADIUS; ++dy) {
        const int yy = vcam_reflect101(y + dy, h);
        for (int dx = -VCAM_GF_RADIUS; dx <= VCAM_GF_RADIUS; ++dx) {
            const int xx = vcam_reflect101(x + dx, w);
            const float I = guide[(long long)yy * w + xx];
            const long long q = (long long)yy * pad_w + xx;
            sI += (double)I;
            sII += (double)(I * I);  // the product is rounded to float first, as np.multiply does
            for (int c = 0; c < 3; ++c) {
                const float p = stylized[(2 - c) * plane + q];  // BGR channel c <- RGB plane 2 - c
                sp[c] += (double)p;
                sIp[c] += (double)(I * p);
            }
        }
    }
    const double inv_area = 1.0 / (VCAM_GF_K * VCAM_GF_K);
    const float mI = (float)(sI * inv_area);
    const float mII = (float)(sII * inv_area);
    float inv = mII - mI * mI;  // var_I
    inv = inv + VCAM_GF_EPS;
    inv = 1.0f / inv;
    const long long o = ((long long)y * w + x) * 3;
    for (int c = 0; c < 3; ++c) {
        const float mp = (float)(sp[c] * inv_area);
        const float mIp = (float)(sIp[c] * inv_area);
        float a = mI * mp;
        a = mIp - a;  // cov_Ip
        a = a * inv;
        float b = a * mI;
        b = mp - b;
        A[o + c] = a;
        B[o + c] = b;
    }
}
VCAM_EXPORT(vcam_gf_coeffs)

// A' = box(A) * s and b' = box(b) * (255 s); `strength` points at {s, 255 s, 1 - s} as float32, computed on the
// host in double like the reference, and read from device memory so a captured CUDA graph sees new values.
extern "C" __global__ void vcam_gf_smooth(const float* __restrict__ A, const float* __restrict__ B, int w, int h,
                                          const float* __restrict__ strength, float* __restrict__ coef_a,
                                          float* __restrict__ coef_b) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    double sa[3] = {0.0, 0.0, 0.0}, sb[3] = {0.0, 0.0, 0.0};
    for (int dy = -VCAM_GF_RADIUS; dy <= VCAM_GF_RADIUS; ++dy) {
        const int yy = vcam_reflect101(y + dy, h);
        for (int dx = -VCAM_GF_RADIUS; dx <= VCAM_GF_RADIUS; ++dx) {
            const long long q = ((long long)yy * w + vcam_reflect101(x + dx, w)) * 3;
            for (int c = 0; c < 3; ++c) {
                sa[c] += (double)A[q + c];
                sb[c] += (double)B[q + c];
            }
        }
    }
    const double inv_area = 1.0 / (VCAM_GF_K * VCAM_GF_K);
    const float s_a = strength[0], s_b = strength[1];
    const long long o = ((long long)y * w + x) * 3;
    for (int c = 0; c < 3; ++c) {
        coef_a[o + c] = (float)(sa[c] * inv_area) * s_a;
        coef_b[o + c] = (float)(sb[c] * inv_area) * s_b;
    }
}
VCAM_EXPORT(vcam_gf_smooth)

// "bilinear" upsampling (vcam.ops.guided, mode="bilinear"): no filter. A' stays 0 (cleared once by the host) and
// b' = 255 s p, interleaved BGR from the network's RGB planes, so vcam_gf_apply upsamples and blends the network's
// own picture: a network that paints near the output size keeps its strokes.
extern "C" __global__ void vcam_up_plain(const float* __restrict__ stylized, int w, int h, int pad_w, int pad_h,
                                         const float* __restrict__ strength, float* __restrict__ coef_b) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    const long long plane = (long long)pad_w * pad_h;
    const long long q = (long long)y * pad_w + x;
    const long long o = ((long long)y * w + x) * 3;
    const float s_b = strength[1];
    for (int c = 0; c < 3; ++c) coef_b[o + c] = stylized[(2 - c) * plane + q] * s_b;
}
VCAM_EXPORT(vcam_up_plain)

// cv::resize INTER_LINEAR coordinates for float images: fx = (float)((d + 0.5) * scale - 0.5), scale computed as
// 1 / (dsize / ssize) in double; weights (1 - fx, fx) in float; edges clamped.
__device__ __forceinline__ void vcam_up_coeffs(int d, int ssize, int dsize, int* s0, int* s1, float* w0, float* w1) {
    const double inv = (double)dsize / (double)ssize;
    const double scale = 1.0 / inv;
    float f = (float)((d + 0.5) * scale - 0.5);
    int s = __float2int_rd(f);
    f -= (float)s;
    if (s < 0) {
        f = 0.f;
        s = 0;
    }
    if (s >= ssize - 1) {
        f = 0.f;
        s = ssize - 1;
    }
    *s0 = s;
    *s1 = s + 1 < ssize ? s + 1 : ssize - 1;
    *w0 = 1.f - f;
    *w1 = f;
}

__device__ __forceinline__ float vcam_up(const float* c, int w, int ch, int x0, int x1, int y0, int y1, float a0,
                                         float a1, float b0, float b1) {
    const float r0 = c[((long long)y0 * w + x0) * 3 + ch] * a0 + c[((long long)y0 * w + x1) * 3 + ch] * a1;
    const float r1 = c[((long long)y1 * w + x0) * 3 + ch] * a0 + c[((long long)y1 * w + x1) * 3 + ch] * a1;
    return r0 * b0 + r1 * b1;
}

__device__ __forceinline__ vcam_u8 vcam_round_u8(float v) {
    v = fminf(fmaxf(v, -1.f), 256.f);  // NaN -> -1 -> 0, like OpenCV's saturate_cast of cvRound(NaN)
    return vcam_sat_u8(__float2int_rn(v));
}

extern "C" __global__ void vcam_gf_apply(const vcam_u8* __restrict__ frame, int frame_pitch, int W, int H,
                                         const float* __restrict__ coef_a, const float* __restrict__ coef_b, int w,
                                         int h, const float* __restrict__ strength, int fmt, vcam_u8* __restrict__ p0,
                                         int pitch0, vcam_u8* __restrict__ p1, int pitch1, vcam_u8* __restrict__ p2,
                                         int pitch2) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= W || y >= H) return;
    int x0, x1, y0, y1;
    float a0, a1, b0, b1;
    vcam_up_coeffs(x, w, W, &x0, &x1, &a0, &a1);
    vcam_up_coeffs(y, h, H, &y0, &y1, &b0, &b1);
    const vcam_u8* f = vcam_row(frame, frame_pitch, y) + 3 * x;
    // OpenCV 5 COLOR_BGR2GRAY on uint8 (15-bit fixed point): the full-resolution guide in uint8 levels.
    const float g = (float)((f[0] * 3735 + f[1] * 19235 + f[2] * 9798 + 16384) >> 15);
    const float blend = strength[2];
    vcam_u8 o[3];
    for (int c = 0; c < 3; ++c) {
        float v = vcam_up(coef_a, w, c, x0, x1, y0, y1, a0, a1, b0, b1) * g;
        v = v + vcam_up(coef_b, w, c, x0, x1, y0, y1, a0, a1, b0, b1);
        if (blend > 0.f) v = v + (float)f[c] * blend;
        o[c] = vcam_round_u8(v);
    }
    vcam_store_pixel(fmt, x, y, o[0], o[1], o[2], p0, pitch0, p1, pitch1, p2, pitch2);
}
VCAM_EXPORT(vcam_gf_apply)
