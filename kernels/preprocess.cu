// Camera frame -> network input, one thread per output pixel, in one pass:
//   downscale exactly as vcam/ops/preprocess.py does (k exact 2x INTER_AREA halvings, then nothing, OpenCV's
//   INTER_LINEAR or OpenCV's general INTER_AREA), all in OpenCV's own integer/float arithmetic so the result is
//   bit-identical; then RGB planar float32 (or fp16) = uint8 * INPUT_SCALE, the low-res gray guide
//   (OpenCV BGR2GRAY fixed point * INPUT_SCALE), and optionally the downscaled uint8 BGR image.
// Inputs: BGR (pitched), YUYV (pitched) or NV12 (two pitched planes); YUV is converted per tap exactly like
// cv::cvtColor, so the result equals preprocess(cvtColor(frame)).
#include "vcam_common.cuh"
#include "vcam_params.h"

#define VCAM_RESIZE_NONE 0    // the halvings land exactly on the output size
#define VCAM_RESIZE_LINEAR 1  // cv::resize INTER_LINEAR on uint8 (fixed point, 11-bit coefficients)
#define VCAM_RESIZE_AREA 2    // cv::resize INTER_AREA, general (non-integer) factor >= 1
#define VCAM_RESIZE_AREA_INT 3  // cv::resize INTER_AREA, integer factors (its "fast" path)
#define VCAM_MAX_HALVINGS 5

struct vcam_px {
    int b, g, r;
};

struct vcam_src {
    int fmt;  // 0 BGR, 1 YUYV, 2 NV12
    const vcam_u8* p0;
    int pitch0;
    const vcam_u8* p1;
    int pitch1;
};

#define VCAM_IN_BGR 0
#define VCAM_IN_YUYV 1
#define VCAM_IN_NV12 2

__device__ __forceinline__ vcam_px vcam_fetch(const vcam_src& s, int x, int y) {
    vcam_u8 b, g, r;
    if (s.fmt == VCAM_IN_BGR) {
        const vcam_u8* p = vcam_row(s.p0, s.pitch0, y) + 3 * x;
        b = p[0];
        g = p[1];
        r = p[2];
    } else if (s.fmt == VCAM_IN_YUYV) {
        vcam_load_yuyv(s.p0, s.pitch0, x, y, &b, &g, &r);
    } else {
        vcam_load_nv12(s.p0, s.pitch0, s.p1, s.pitch1, x, y, &b, &g, &r);
    }
    vcam_px px = {b, g, r};
    return px;
}

// Pixel (x, y) of the image after `halvings` exact 2x INTER_AREA steps: (a + b + c + d + 2) >> 2 per step, the
// rounding applied at every level as the chain of cv::resize calls does. The 2^k x 2^k source block is walked in
// Morton order, which completes each 2x2 group of every level in turn: a running sum per level is all the state,
// and the code stays small (no recursion, nothing unrolled 4^k times).
__device__ __noinline__ vcam_px vcam_mid(const vcam_src& s, int halvings, int x, int y) {
    if (halvings <= 0) return vcam_fetch(s, x, y);
    int acc_b[VCAM_MAX_HALVINGS], acc_g[VCAM_MAX_HALVINGS], acc_r[VCAM_MAX_HALVINGS];
    for (int l = 0; l < halvings; ++l) acc_b[l] = acc_g[l] = acc_r[l] = 0;
    const int n = 1 << (2 * halvings);
    const int x0 = x << halvings, y0 = y << halvings;
    int b = 0, g = 0, r = 0;
    for (int i = 0; i < n; ++i) {
        int dx = 0, dy = 0;
        for (int j = 0; j < halvings; ++j) {
            dx |= ((i >> (2 * j)) & 1) << j;
            dy |= ((i >> (2 * j + 1)) & 1) << j;
        }
        const vcam_px p = vcam_fetch(s, x0 + dx, y0 + dy);
        b = p.b;
        g = p.g;
        r = p.r;
        int done = i + 1;
        for (int l = 0; l < halvings; ++l) {
            acc_b[l] += b;
            acc_g[l] += g;
            acc_r[l] += r;
            if (done & 3) break;  // this level's 2x2 group is not complete yet
            b = (acc_b[l] + 2) >> 2;
            g = (acc_g[l] + 2) >> 2;
            r = (acc_r[l] + 2) >> 2;
            acc_b[l] = acc_g[l] = acc_r[l] = 0;
            done >>= 2;
        }
    }
    vcam_px o = {b, g, r};  // after the last source pixel every level has completed: the top value
    return o;
}

// cv::resize INTER_LINEAR (uint8) tap and coefficients along one axis: fx = (float)((d + 0.5) * scale - 0.5) in
// double, scale = 1 / (dsize / ssize); weights (1 - fx, fx) * 2048 rounded to nearest even; edges clamped.
__device__ __forceinline__ void vcam_linear_coeffs(int d, int ssize, int dsize, int* s0, int* s1, int* w0, int* w1) {
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
    *w0 = __float2int_rn((1.f - f) * 2048.f);
    *w1 = __float2int_rn(f * 2048.f);
}

// OpenCV's vertical pass for uint8: ((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >> 4)) >> 16), then (+2) >> 2.
__device__ __forceinline__ int vcam_linear_v(int r0, int r1, int b0, int b1) {
    return vcam_sat_u8((((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >> 4)) >> 16) + 2) >> 2);
}

__device__ vcam_px vcam_resize_linear(const vcam_src& s, int halvings, int mw, int mh, int dw, int dh, int x, int y) {
    int sx0, sx1, a0, a1, sy0, sy1, b0, b1;
    vcam_linear_coeffs(x, mw, dw, &sx0, &sx1, &a0, &a1);
    vcam_linear_coeffs(y, mh, dh, &sy0, &sy1, &b0, &b1);
    const vcam_px p00 = vcam_mid(s, halvings, sx0, sy0), p01 = vcam_mid(s, halvings, sx1, sy0);
    const vcam_px p10 = vcam_mid(s, halvings, sx0, sy1), p11 = vcam_mid(s, halvings, sx1, sy1);
    vcam_px o;
    o.b = vcam_linear_v(p00.b * a0 + p01.b * a1, p10.b * a0 + p11.b * a1, b0, b1);
    o.g = vcam_linear_v(p00.g * a0 + p01.g * a1, p10.g * a0 + p11.g * a1, b0, b1);
    o.r = vcam_linear_v(p00.r * a0 + p01.r * a1, p10.r * a0 + p11.r * a1, b0, b1);
    return o;
}

// The source span and weights of destination index d for cv::resize INTER_AREA (computeResizeAreaTab):
// an optional partial first cell, whole cells, an optional partial last cell.
struct vcam_area_axis {
    int first_partial, s1, s2, last_partial;
    float a_first, a_mid, a_last;
};

__device__ __forceinline__ vcam_area_axis vcam_area_tab(int d, int ssize, int dsize) {
    const double inv = (double)dsize / (double)ssize;
    const double scale = 1.0 / inv;
    const double f1 = d * scale;
    const double f2 = f1 + scale;
    const double cell = scale < ssize - f1 ? scale : ssize - f1;
    int s1 = (int)ceil(f1), s2 = (int)floor(f2);
    s2 = s2 < ssize - 1 ? s2 : ssize - 1;
    s1 = s1 < s2 ? s1 : s2;
    vcam_area_axis t;
    t.s1 = s1;
    t.s2 = s2;
    t.first_partial = (s1 - f1) > 1e-3;
    t.a_first = (float)((s1 - f1) / cell);
    t.a_mid = (float)(1.0 / cell);
    t.last_partial = (f2 - s2) > 1e-3;
    const double tail = f2 - s2 < 1.0 ? f2 - s2 : 1.0;
    t.a_last = (float)((tail < cell ? tail : cell) / cell);
    return t;
}

// One source row's horizontal sum, accumulated in the table's order (float, starting from 0).
__device__ __forceinline__ void vcam_area_row(const vcam_src& s, int halvings, const vcam_area_axis& tx, int sy,
                                              float* b, float* g, float* r) {
    float bb = 0.f, gg = 0.f, rr = 0.f;
    if (tx.first_partial) {
        const vcam_px p = vcam_mid(s, halvings, tx.s1 - 1, sy);
        bb += (float)p.b * tx.a_first;
        gg += (float)p.g * tx.a_first;
        rr += (float)p.r * tx.a_first;
    }
    for (int sx = tx.s1; sx < tx.s2; ++sx) {
        const vcam_px p = vcam_mid(s, halvings, sx, sy);
        bb += (float)p.b * tx.a_mid;
        gg += (float)p.g * tx.a_mid;
        rr += (float)p.r * tx.a_mid;
    }
    if (tx.last_partial) {
        const vcam_px p = vcam_mid(s, halvings, tx.s2, sy);
        bb += (float)p.b * tx.a_last;
        gg += (float)p.g * tx.a_last;
        rr += (float)p.r * tx.a_last;
    }
    *b = bb;
    *g = gg;
    *r = rr;
}

__device__ vcam_px vcam_resize_area(const vcam_src& s, int halvings, int mw, int mh, int dw, int dh, int x, int y) {
    const vcam_area_axis tx = vcam_area_tab(x, mw, dw);
    const vcam_area_axis ty = vcam_area_tab(y, mh, dh);
    float sb = 0.f, sg = 0.f, sr = 0.f, b, g, r;
    if (ty.first_partial) {
        vcam_area_row(s, halvings, tx, ty.s1 - 1, &b, &g, &r);
        sb += ty.a_first * b;
        sg += ty.a_first * g;
        sr += ty.a_first * r;
    }
    for (int sy = ty.s1; sy < ty.s2; ++sy) {
        vcam_area_row(s, halvings, tx, sy, &b, &g, &r);
        sb += ty.a_mid * b;
        sg += ty.a_mid * g;
        sr += ty.a_mid * r;
    }
    if (ty.last_partial) {
        vcam_area_row(s, halvings, tx, ty.s2, &b, &g, &r);
        sb += ty.a_last * b;
        sg += ty.a_last * g;
        sr += ty.a_last * r;
    }
    vcam_px o = {vcam_sat_u8(__float2int_rn(sb)), vcam_sat_u8(__float2int_rn(sg)), vcam_sat_u8(__float2int_rn(sr))};
    return o;
}

// cv::resize INTER_AREA with integer factors: the block's integer sum * (1.f / area), rounded to nearest even;
// exactly 2x2 takes OpenCV's vector path, (sum + 2) >> 2.
__device__ vcam_px vcam_resize_area_int(const vcam_src& s, int halvings, int mw, int mh, int dw, int dh, int x,
                                        int y) {
    const int fx = mw / dw, fy = mh / dh;
    int sb = 0, sg = 0, sr = 0;
    for (int j = 0; j < fy; ++j)
        for (int i = 0; i < fx; ++i) {
            const vcam_px p = vcam_mid(s, halvings, x * fx + i, y * fy + j);
            sb += p.b;
            sg += p.g;
            sr += p.r;
        }
    vcam_px o;
    if (fx == 2 && fy == 2) {
        o.b = (sb + 2) >> 2;
        o.g = (sg + 2) >> 2;
        o.r = (sr + 2) >> 2;
    } else {
        const float scale = 1.f / (float)(fx * fy);
        o.b = vcam_sat_u8(__float2int_rn((float)sb * scale));
        o.g = vcam_sat_u8(__float2int_rn((float)sg * scale));
        o.r = vcam_sat_u8(__float2int_rn((float)sr * scale));
    }
    return o;
}

// OpenCV 5 COLOR_BGR2GRAY on uint8: 15-bit fixed point.
__device__ __forceinline__ int vcam_gray_u8(int b, int g, int r) { return (b * 3735 + g * 19235 + r * 9798 + 16384) >> 15; }

// The network input is (3, pad_h, pad_w): the downscaled dst_w x dst_h image, its extra rows and columns mirrored
// from the edge (cv::copyMakeBorder BORDER_REFLECT_101). The guide and the uint8 image are dst_w x dst_h.
__device__ void vcam_pre(const vcam_src& s, int src_w, int src_h, int halvings, int mode, int dst_w, int dst_h,
                         int pad_w, int pad_h, float* __restrict__ out_f32, vcam_half* __restrict__ out_f16,
                         float* __restrict__ guide, vcam_u8* __restrict__ small_bgr, int small_pitch) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= pad_w || y >= pad_h) return;
    const int sx = vcam_reflect101(x, dst_w), sy = vcam_reflect101(y, dst_h);
    const int mw = src_w >> halvings, mh = src_h >> halvings;
    vcam_px p;
    if (mode == VCAM_RESIZE_LINEAR) {
        p = vcam_resize_linear(s, halvings, mw, mh, dst_w, dst_h, sx, sy);
    } else if (mode == VCAM_RESIZE_AREA) {
        p = vcam_resize_area(s, halvings, mw, mh, dst_w, dst_h, sx, sy);
    } else if (mode == VCAM_RESIZE_AREA_INT) {
        p = vcam_resize_area_int(s, halvings, mw, mh, dst_w, dst_h, sx, sy);
    } else {
        p = vcam_mid(s, halvings, sx, sy);
    }
    const long long plane = (long long)pad_w * pad_h;
    const long long i = (long long)y * pad_w + x;
    const float r = (float)p.r * VCAM_INPUT_SCALE, g = (float)p.g * VCAM_INPUT_SCALE, b = (float)p.b * VCAM_INPUT_SCALE;
    if (out_f32) {
        out_f32[i] = r;
        out_f32[plane + i] = g;
        out_f32[2 * plane + i] = b;
    }
    if (out_f16) {
        out_f16[i] = vcam_f2h(r);
        out_f16[plane + i] = vcam_f2h(g);
        out_f16[2 * plane + i] = vcam_f2h(b);
    }
    if (x >= dst_w || y >= dst_h) return;
    if (guide) guide[(long long)y * dst_w + x] = (float)vcam_gray_u8(p.b, p.g, p.r) * VCAM_INPUT_SCALE;
    if (small_bgr) {
        vcam_u8* o = vcam_row_w(small_bgr, small_pitch, y) + 3 * x;
        o[0] = (vcam_u8)p.b;
        o[1] = (vcam_u8)p.g;
        o[2] = (vcam_u8)p.r;
    }
}

// Outputs may be null (0) when not wanted: out_f32 or out_f16 (the network's input type), guide, small_bgr.
extern "C" __global__ void vcam_pre_bgr(const vcam_u8* __restrict__ src, int src_pitch, int src_w, int src_h,
                                        int halvings, int mode, int dst_w, int dst_h, int pad_w, int pad_h,
                                        float* __restrict__ out_f32,
                                        vcam_half* __restrict__ out_f16, float* __restrict__ guide,
                                        vcam_u8* __restrict__ small_bgr, int small_pitch) {
    const vcam_src s = {VCAM_IN_BGR, src, src_pitch, 0, 0};
    vcam_pre(s, src_w, src_h, halvings, mode, dst_w, dst_h, pad_w, pad_h, out_f32, out_f16, guide, small_bgr,
             small_pitch);
}
VCAM_EXPORT(vcam_pre_bgr)

extern "C" __global__ void vcam_pre_yuyv(const vcam_u8* __restrict__ src, int src_pitch, int src_w, int src_h,
                                         int halvings, int mode, int dst_w, int dst_h, int pad_w, int pad_h,
                                        float* __restrict__ out_f32,
                                         vcam_half* __restrict__ out_f16, float* __restrict__ guide,
                                         vcam_u8* __restrict__ small_bgr, int small_pitch) {
    const vcam_src s = {VCAM_IN_YUYV, src, src_pitch, 0, 0};
    vcam_pre(s, src_w, src_h, halvings, mode, dst_w, dst_h, pad_w, pad_h, out_f32, out_f16, guide, small_bgr,
             small_pitch);
}
VCAM_EXPORT(vcam_pre_yuyv)

extern "C" __global__ void vcam_pre_nv12(const vcam_u8* __restrict__ ysrc, int y_pitch,
                                         const vcam_u8* __restrict__ uvsrc, int uv_pitch, int src_w, int src_h,
                                         int halvings, int mode, int dst_w, int dst_h, int pad_w, int pad_h,
                                        float* __restrict__ out_f32,
                                         vcam_half* __restrict__ out_f16, float* __restrict__ guide,
                                         vcam_u8* __restrict__ small_bgr, int small_pitch) {
    const vcam_src s = {VCAM_IN_NV12, ysrc, y_pitch, uvsrc, uv_pitch};
    vcam_pre(s, src_w, src_h, halvings, mode, dst_w, dst_h, pad_w, pad_h, out_f32, out_f16, guide, small_bgr,
             small_pitch);
}
VCAM_EXPORT(vcam_pre_nv12)
