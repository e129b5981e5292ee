"""Performance model of the NVIDIA path: work per frame for each stage, and the frame time it implies on T4,
RTX 3060, RTX 4090 and H100 from their published peak figures. ESTIMATES, not measurements.

Per stage: arithmetic (FP16 on tensor cores, FP16/FP32 on CUDA cores, FP64 for the kernels' exact coefficient
and box-sum arithmetic), device-memory bytes, PCIe bytes and kernel launches. Time per stage is a roofline:
max(ops / peak for each unit, bytes / bandwidth) + launches x overhead. The network's figures are counted from
its ONNX graph (shapes inferred at the network size); the kernels' from what kernels/*.cu do per pixel.

    .venv/bin/python benchmarks/gpu_model.py --json out/gpu_model.json
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import cleanup_temp_model, console, find_model, machine, table, write_json  # noqa: E402
from vcam.config import Size  # noqa: E402
from vcam.engines.governor import Ladder, default_internal  # noqa: E402
from vcam.gpu.preplan import plan_resize  # noqa: E402


@dataclass(frozen=True)
class Gpu:
    """Published peak figures (dense, no sparsity; NVIDIA datasheets / architecture whitepapers)."""

    name: str
    fp16_tensor_tflops: float   # FP16 inputs, FP32 accumulate (what TensorRT's FP16 convolutions mostly use)
    fp16_tflops: float          # FP16 on CUDA cores (depthwise convs, elementwise, norms)
    fp32_tflops: float
    fp64_tflops: float
    mem_gbs: float              # device memory bandwidth
    pcie_gbs: float             # host link, one direction, realistic (~80% of the link's peak)


GPUS = [
    Gpu("T4", 65.0, 16.2, 8.1, 0.25, 320.0, 12.0),                 # Turing TU104, 70 W, PCIe 3.0 x16
    Gpu("RTX 3060", 25.6, 12.7, 12.7, 0.20, 360.0, 25.0),          # Ampere GA106 12 GB, PCIe 4.0 x16
    Gpu("RTX 4090", 165.2, 82.6, 82.6, 1.29, 1008.0, 25.0),        # Ada AD102, PCIe 4.0 x16
    Gpu("H100 SXM", 989.4, 133.8, 66.9, 33.5, 3350.0, 50.0),       # Hopper, PCIe 5.0 x16 host link
]
LAUNCH_US = 2.5          # per kernel/copy node inside a CUDA graph (assumed; eager launches cost more)
GRAPH_LAUNCH_US = 10.0   # one cuGraphLaunch per frame (CPU side, overlaps nothing here: counted once)
HOST_COPY_GBS = 8.0      # CPU memcpy into/out of pinned memory (assumed; one frame in, one out)


@dataclass
class Work:
    tensor: float = 0.0     # FP16 tensor-core FLOPs
    fp16: float = 0.0       # FP16 CUDA-core FLOPs
    fp32: float = 0.0       # FP32 / integer ops on CUDA cores
    fp64: float = 0.0
    bytes: float = 0.0      # device memory traffic
    pcie: float = 0.0       # host <-> device bytes
    host: float = 0.0       # CPU-side copies
    launches: int = 0
    detail: dict = field(default_factory=dict)

    def time_ms(self, g: Gpu) -> float:
        compute = max(self.tensor / (g.fp16_tensor_tflops * 1e12), self.fp16 / (g.fp16_tflops * 1e12),
                      self.fp32 / (g.fp32_tflops * 1e12), self.fp64 / (g.fp64_tflops * 1e12))
        # Units run concurrently within a stage at best; a roofline takes the slowest resource.
        t = max(compute, self.bytes / (g.mem_gbs * 1e9), self.pcie / (g.pcie_gbs * 1e9))
        t += self.host / (HOST_COPY_GBS * 1e9)
        return (t + self.launches * LAUNCH_US * 1e-6) * 1000


# -- the network, counted from its ONNX graph ----------------------------------------------------------------
def network_work(onnx_path: Path, padded: Size, style_dim: int, state_channels: int, stride: int = 4) -> Work:
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load(str(onnx_path))
    dims = {"image": (1, 3, padded.height, padded.width),
            "state": (1, state_channels, padded.height // stride, padded.width // stride), "keep": (1, 1),
            "style": (1, style_dim)}
    for inp in model.graph.input:
        for d, v in zip(inp.type.tensor_type.shape.dim, dims[inp.name], strict=True):
            d.ClearField("dim_param")
            d.dim_value = v
    model = shape_inference.infer_shapes(model, data_prop=True)
    shapes = {}
    for vi in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        shp = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if shp and all(v > 0 for v in shp):
            shapes[vi.name] = shp
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    numel = lambda name: int(np.prod(shapes[name])) if name in shapes else 0  # noqa: E731
    w = Work()
    convs = dense = dw = norm_elems = 0
    fused_bytes = 0
    for n in model.graph.node:
        out = numel(n.output[0]) if n.output else 0
        if n.op_type == "Conv":
            wt = consts[n.input[1]]
            group = next((a.i for a in n.attribute if a.name == "group"), 1)
            flops = 2 * out * int(np.prod(wt.shape[1:]))
            if group == 1:
                w.tensor += flops
                dense += flops
            else:
                w.fp16 += flops
                dw += flops
            w.fp16 += out                                    # bias
            fused_bytes += 2 * (numel(n.input[0]) + out) + 2 * wt.size
            convs += 1
        elif n.op_type == "InstanceNormalization":
            w.fp16 += 8 * out                                # mean, variance, normalise
            norm_elems += out
            fused_bytes += 2 * 3 * out                       # read twice (statistics, normalise), write once
        elif n.op_type in ("Relu", "Add", "Mul", "Sub"):
            w.fp16 += out                                    # fused into the producer: no extra traffic
        elif n.op_type == "Sigmoid":
            w.fp16 += 4 * out
        elif n.op_type in ("Resize", "Concat"):
            fused_bytes += 2 * 2 * out
    w.bytes = fused_bytes
    w.launches = convs + sum(1 for n in model.graph.node if n.op_type == "InstanceNormalization")
    w.detail = {"convs": convs, "dense_conv_gflops": round(dense / 1e9, 3), "depthwise_conv_gflops":
                round(dw / 1e9, 3), "norm_elements": norm_elems, "assumption": "FP16 activations; elementwise ops "
                "fused into their producers; each conv/norm one kernel"}
    return w


# -- our kernels, per pixel from kernels/*.cu ---------------------------------------------------------------------
def kernel_work(out: Size, internal: Size, padded: Size, fmt: str = "i420", upsample: str = "guided"
                ) -> dict[str, Work]:
    W, H, wl, hl = out.width, out.height, internal.width, internal.height
    npx, nlow, npad = W * H, wl * hl, padded.width * padded.height
    plan = plan_resize(out, internal)
    taps = 4 ** plan.halvings * (4 if plan.mode == 1 else 1)      # source pixels read per network pixel
    out_bytes = npx * 3 if fmt == "bgr" else npx * 3 // 2
    stages = {
        "upload": Work(pcie=npx * 3, host=npx * 3, launches=1),
        "pre": Work(fp32=npad * (3 * taps + 25), fp64=npad * 6 if plan.mode else 0,
                    bytes=npx * 3 + npad * 3 * 2 + nlow * 4, launches=1,
                    detail={"halvings": plan.halvings, "final": plan.mode_name, "source_reads_per_pixel": taps}),
        # 3x3 window sums in double of I, I*I, p, I*p (exact, like OpenCV's double box filter) and A, b.
        "gf_coeffs": Work(fp64=nlow * 9 * 8, fp32=nlow * (9 * 4 + 30), bytes=nlow * (4 + 12 + 24), launches=1),
        "gf_smooth": Work(fp64=nlow * 9 * 6, fp32=nlow * 12, bytes=nlow * (24 + 24), launches=1),
        # Per output pixel: bilinear A', b' (2 x 3 channels x 6 ops), gray, blend, round, YUV conversion.
        "gf_apply": Work(fp32=npx * (36 + 8 + 9 + 20), fp64=npx * 4, bytes=npx * 3 + out_bytes + nlow * 24,
                             launches=1),
        "download": Work(pcie=out_bytes, host=out_bytes, launches=1),
    }
    if upsample == "bilinear":
        # vcam_up_plain: per output pixel a bilinear read of the stylized image, the blend, round, YUV conversion.
        for k in ("gf_coeffs", "gf_smooth", "gf_apply"):
            del stages[k]
        stages["up_plain"] = Work(fp32=npx * (3 * 6 + 9 + 20), bytes=npx * 3 + out_bytes + nlow * 12, launches=1)
        stages["download"] = stages.pop("download")
    return stages


CONFIGS = [("720p", Size(1280, 720)), ("1080p", Size(1920, 1080))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the model to this JSON file")
    ap.add_argument("--model", type=Path, help="model folder (default: models/, else runs/main, else random)")
    ap.add_argument("--format", default="i420", choices=("i420", "nv12", "bgr"), help="output pixel format")
    args = ap.parse_args(argv)

    man, source = find_model(args.model)
    result: dict = {"label": "ESTIMATES from published peak figures (roofline), not measurements",
                    "model": source, "output_format": args.format, "machine": machine(),
                    "assumptions": {"launch_us_in_graph": LAUNCH_US, "graph_launch_us": GRAPH_LAUNCH_US,
                                    "host_copy_gbs": HOST_COPY_GBS,
                                    "roofline": "stage time = max(ops/peak per unit, bytes/bandwidth, pcie/link) "
                                                "+ host copies + launches x overhead; stages run back to back"},
                    "gpus": [asdict(g) for g in GPUS], "configs": {}}
    try:
        for label, out in CONFIGS:
            internal = default_internal(out, Ladder.of(man.extra))
            stages = kernel_work(out, internal.size, internal.padded, args.format,
                                 str(man.extra.get("upsample") or "guided"))
            stages = {"upload": stages.pop("upload"), "pre": stages.pop("pre"),
                      "network": network_work(man.onnx_path, internal.padded, man.style_dim, man.state_channels,
                                              man.size_multiple),
                      **stages}
            cfg = {"output": str(out), "internal": str(internal.size), "network": str(internal.padded),
                   "stages": {k: {kk: (round(vv, 1) if isinstance(vv, float) else vv)
                                  for kk, vv in asdict(v).items()} for k, v in stages.items()},
                   "estimates": {}}
            per_gpu = {}
            for g in GPUS:
                per = {k: v.time_ms(g) for k, v in stages.items()}
                total = sum(per.values()) + GRAPH_LAUNCH_US / 1000
                gpu_only = total - per["upload"] - per["download"]
                cfg["estimates"][g.name] = {"stages_ms": {k: round(v, 4) for k, v in per.items()},
                                            "frame_ms": round(total, 3), "fps": round(1000 / total, 1),
                                            "gpu_busy_ms": round(gpu_only, 3)}
                per_gpu[g.name] = (per, total)
            result["configs"][label] = cfg
            rows = [[f"{k} (us)", *[1000 * per_gpu[g.name][0][k] for g in GPUS]] for k in stages]
            rows.append(["frame (ms)", *[per_gpu[g.name][1] for g in GPUS]])
            rows.append(["fps", *[1000 / per_gpu[g.name][1] for g in GPUS]])
            table(f"{label}: {out} out, network {internal.padded}, {args.format} - ESTIMATES",
                  ["stage", *[g.name for g in GPUS]], rows)
            work_rows = [[k, v.tensor / 1e9, (v.fp16 + v.fp32) / 1e9, v.fp64 / 1e9, v.bytes / 1e6, v.pcie / 1e6,
                          v.launches] for k, v in stages.items()]
            table(f"{label}: work per frame", ["stage", "tensor GFLOP", "CUDA-core GOP", "FP64 GOP", "device MB",
                                               "PCIe MB", "launches"], work_rows)
    finally:
        cleanup_temp_model(man)
    console.print("[bold]These are estimates from peak figures; measure on the GPU "
                  "(tests -m gpu, benchmarks) before quoting them.[/bold]")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
