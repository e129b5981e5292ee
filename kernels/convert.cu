// Pixel-format conversions at full resolution, one thread per pixel.
//  - camera YUYV / NV12 -> BGR (what the guided-filter and blend passes read), matching cv::cvtColor;
//  - BGR -> BGR / I420 / NV12 (the virtual camera's native layout), matching cv::cvtColor(COLOR_BGR2YUV_I420).
#include "vcam_common.cuh"

extern "C" __global__ void vcam_yuyv_to_bgr(const vcam_u8* __restrict__ src, int src_pitch, int width, int height,
                                            vcam_u8* __restrict__ dst, int dst_pitch) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    vcam_u8* o = vcam_row_w(dst, dst_pitch, y) + 3 * x;
    vcam_load_yuyv(src, src_pitch, x, y, &o[0], &o[1], &o[2]);
}
VCAM_EXPORT(vcam_yuyv_to_bgr)

extern "C" __global__ void vcam_nv12_to_bgr(const vcam_u8* __restrict__ ysrc, int y_pitch,
                                            const vcam_u8* __restrict__ uvsrc, int uv_pitch, int width, int height,
                                            vcam_u8* __restrict__ dst, int dst_pitch) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    vcam_u8* o = vcam_row_w(dst, dst_pitch, y) + 3 * x;
    vcam_load_nv12(ysrc, y_pitch, uvsrc, uv_pitch, x, y, &o[0], &o[1], &o[2]);
}
VCAM_EXPORT(vcam_nv12_to_bgr)

extern "C" __global__ void vcam_bgr_to_format(const vcam_u8* __restrict__ src, int src_pitch, int width, int height,
                                              int fmt, vcam_u8* __restrict__ p0, int pitch0, vcam_u8* __restrict__ p1,
                                              int pitch1, vcam_u8* __restrict__ p2, int pitch2) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    const vcam_u8* s = vcam_row(src, src_pitch, y) + 3 * x;
    vcam_store_pixel(fmt, x, y, s[0], s[1], s[2], p0, pitch0, p1, pitch1, p2, pitch2);
}
VCAM_EXPORT(vcam_bgr_to_format)
