"""The kernels on a real GPU (skipped without one): the same comparisons as the host emulation, now against the
device's arithmetic. Run with `pytest -m gpu` on a machine with an NVIDIA GPU and driver."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.config import Size

pytestmark = [pytest.mark.kernel, pytest.mark.gpu]


@pytest.fixture(scope="module")
def gpu():
    from vcam.engines.gpu_probe import probe

    status = probe()
    if status.device is None:
        pytest.skip(f"needs an NVIDIA GPU: {status.reason}")
    pytest.importorskip("cuda.bindings", reason="needs cuda-python (pip install 'vcam[gpu]')")
    from vcam.gpu.device import CudaDevice

    dev = CudaDevice()
    yield dev
    dev.close()


def _to_device(dev, arr: np.ndarray):
    buf = dev.alloc(arr.nbytes)
    host = dev.pinned(arr.shape, arr.dtype)
    np.copyto(host, arr)
    dev.upload(buf, host)
    return buf


def _from_device(dev, buf, shape, dtype) -> np.ndarray:
    host = dev.pinned(shape, dtype)
    dev.download(host, buf)
    dev.synchronize()
    return np.array(host)


@pytest.mark.parametrize(("frame", "internal"), [((1280, 720), (320, 180)), ((640, 360), (256, 144)),
                                                 ((1920, 1080), (480, 272))])
def test_kernel_gpu_pre_bgr_bit_exact(gpu, frame, internal):
    from vcam.gpu.args import grid_for
    from vcam.gpu.preplan import plan_resize
    from vcam.ops.preprocess import Preprocessor

    fw, fh = frame
    w, h = internal
    img = np.random.default_rng(0).integers(0, 256, (fh, fw, 3), dtype=np.uint8)
    plan = plan_resize(Size(fw, fh), Size(w, h))
    src = _to_device(gpu, img)
    blob, guide = gpu.alloc(3 * w * h * 4), gpu.alloc(w * h * 4)
    gpu.launch("vcam_pre_bgr", *grid_for(w, h), src, fw * 3, fw, fh, plan.halvings, plan.mode, w, h, w, h, blob, 0,
               guide, 0, 0)
    pre = Preprocessor(Size(fw, fh), Size(w, h))
    ref = pre(img)
    np.testing.assert_array_equal(_from_device(gpu, blob, (1, 3, h, w), np.float32), ref)
    np.testing.assert_array_equal(_from_device(gpu, guide, (h, w), np.float32), pre.guide)


def test_kernel_gpu_guided_matches_host_emulation(gpu):
    """Device arithmetic (no FMA contraction, IEEE division) gives the emulation's bits."""
    from vcam.gpu.args import grid_for
    from vcam.gpu.hostemu import HostKernels

    w, h, W, H = 120, 68, 480, 272
    rng = np.random.default_rng(1)
    guide = rng.random((h, w), dtype=np.float32)
    sty = rng.random((3, h, w), dtype=np.float32)
    frame = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    strength = np.array([0.7, np.float32(255 * 0.7), np.float32(0.3)], np.float32)
    emu = HostKernels("guided.cu")
    A, B, ca, cb = (np.zeros((h, w, 3), np.float32) for _ in range(4))
    out = np.zeros((H, W, 3), np.uint8)
    emu.launch("vcam_gf_coeffs", *grid_for(w, h), guide, sty, w, h, w, h, A, B)
    emu.launch("vcam_gf_smooth", *grid_for(w, h), A, B, w, h, strength, ca, cb)
    emu.launch("vcam_gf_apply", *grid_for(W, H), frame, W * 3, W, H, ca, cb, w, h, strength, 0, out, W * 3, 0, 0,
               0, 0)
    dg, ds, df, dst = (_to_device(gpu, a) for a in (guide, sty, frame, strength))
    dA, dB, dca, dcb = (gpu.alloc(h * w * 12) for _ in range(4))
    dout = gpu.alloc(H * W * 3)
    gpu.launch("vcam_gf_coeffs", *grid_for(w, h), dg, ds, w, h, w, h, dA, dB)
    gpu.launch("vcam_gf_smooth", *grid_for(w, h), dA, dB, w, h, dst, dca, dcb)
    gpu.launch("vcam_gf_apply", *grid_for(W, H), df, W * 3, W, H, dca, dcb, w, h, dst, 0, dout, W * 3, 0, 0, 0, 0)
    np.testing.assert_array_equal(_from_device(gpu, dca, (h, w, 3), np.float32), ca)
    np.testing.assert_array_equal(_from_device(gpu, dout, (H, W, 3), np.uint8), out)
