// Test-only kernel with a deliberate off-by-one: thread i reads src[i + shift]. With shift = 1 the last thread
// reads one element past the end, which AddressSanitizer must report (proof that the ASan build checks anything).
extern "C" __global__ void vcam_test_shifted_copy(const float* __restrict__ src, int n, int shift,
                                                  float* __restrict__ dst) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    dst[i] = src[i + shift];
}
VCAM_EXPORT(vcam_test_shifted_copy)
