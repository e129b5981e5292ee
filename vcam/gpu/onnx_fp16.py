"""Rewrite the exported FP32 ONNX graph into FP16, optionally keeping InstanceNormalization in FP32.

TensorRT 11 builds strongly typed networks only (BuilderFlag.FP16, per-layer precision and
OBEY_PRECISION_CONSTRAINTS were removed; 10.x deprecated them in 10.12): precision must live in the graph.
So the FP16 engine is built from this rewritten graph with the STRONGLY_TYPED flag, which TensorRT 10 and 11
both accept, and "keep the normalisation layers in FP32" is a graph rewrite too.

Every float tensor becomes FP16 except: graph inputs/outputs not listed in ``fp16_io``, constants consumed only
where FP32 is required (Resize scales, inputs of FP32-kept nodes), and outputs of FP32-kept nodes. Casts are
inserted wherever a tensor's type and a consumer's required type differ (one cast per tensor and type).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F32, F16 = TensorProto.FLOAT, TensorProto.FLOAT16
# (op, input index) that the ONNX spec requires to be float32 whatever the data type.
_FP32_INPUTS = {("Resize", 2), ("Upsample", 1)}


def _float_tensors(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    g = inferred.graph
    types: dict[str, int] = {}
    for vi in (*g.input, *g.value_info, *g.output):
        types[vi.name] = vi.type.tensor_type.elem_type
    for init in g.initializer:
        types[init.name] = init.data_type
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    types[n.output[0]] = a.t.data_type
    return types


def convert_to_fp16(model: onnx.ModelProto, keep_fp32_ops: tuple[str, ...] = (),
                    fp16_io: tuple[str, ...] = ()) -> onnx.ModelProto:
    """A new model; ``model`` is not modified."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    types = _float_tensors(m)
    is_float = {name for name, t in types.items() if t == F32}

    # Who needs which type.
    need: dict[str, set[int]] = defaultdict(set)          # tensor -> required types at its consumers
    sites: list[tuple[onnx.NodeProto, int, int]] = []     # (node, input index, required type)
    for n in g.node:
        kept = n.op_type in keep_fp32_ops
        for i, name in enumerate(n.input):
            if name in is_float:
                want = F32 if kept or (n.op_type, i) in _FP32_INPUTS else F16
                need[name].add(want)
                sites.append((n, i, want))
    for out in g.output:
        if out.name in is_float:
            need[out.name].add(F16 if out.name in fp16_io else F32)

    # What type each float tensor is produced in.
    produced: dict[str, int] = {}
    for inp in g.input:
        if inp.name in is_float:
            produced[inp.name] = F16 if inp.name in fp16_io else F32
            if inp.name in fp16_io:
                inp.type.tensor_type.elem_type = F16
    constant_outputs = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    for init in g.initializer:
        if init.data_type == F32:
            keep32 = need.get(init.name) == {F32}
            produced[init.name] = F32 if keep32 else F16
            if not keep32:
                init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for name, n in constant_outputs.items():
        if name in is_float:
            keep32 = need.get(name) == {F32}
            produced[name] = F32 if keep32 else F16
            if not keep32:
                for a in n.attribute:
                    if a.name == "value":
                        a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float16),
                                                             a.t.name))
    for n in g.node:
        if n.op_type == "Constant":
            continue
        kept = n.op_type in keep_fp32_ops
        for o in n.output:
            if o in is_float:
                produced[o] = F32 if kept else F16
        if not kept and n.op_type == "Cast":
            for a in n.attribute:
                if a.name == "to" and a.i == F32:
                    a.i = F16
        if not kept and n.op_type == "ConstantOfShape":
            for a in n.attribute:
                if a.name == "value" and a.t.data_type == F32:
                    a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float16)))

    # Insert casts where a consumer needs another type than the producer gives.
    casts: dict[tuple[str, int], str] = {}
    new_nodes: list[onnx.NodeProto] = []

    def cast_of(name: str, to: int) -> str:
        key = (name, to)
        if key not in casts:
            out = f"{name}__as_{'fp16' if to == F16 else 'fp32'}"
            new_nodes.append(helper.make_node("Cast", [name], [out], to=to, name=f"vcam_cast_{len(casts)}"))
            casts[key] = out
        return casts[key]

    for n, i, want in sites:
        if produced.get(n.input[i], want) != want:
            n.input[i] = cast_of(n.input[i], want)
    for out in g.output:
        if out.name not in is_float:
            continue
        want = F16 if out.name in fp16_io else F32
        have = produced.get(out.name, want)
        if have != want:
            # Rename the producer's output and cast into the graph output's name.
            inner = f"{out.name}__{'fp16' if have == F16 else 'fp32'}"
            for n in g.node:
                for k, o in enumerate(n.output):
                    if o == out.name:
                        n.output[k] = inner
                for k, x in enumerate(n.input):
                    if x == out.name:
                        n.input[k] = inner
            new_nodes.append(helper.make_node("Cast", [inner], [out.name], to=want, name=f"vcam_cast_out_{out.name}"))
        out.type.tensor_type.elem_type = want

    # Casts go right after their producers: simplest is a topological re-sort of the whole node list.
    nodes = list(g.node) + new_nodes
    del g.value_info[:]
    g.ClearField("node")
    g.node.extend(_toposort(nodes, {i.name for i in g.input} | {i.name for i in g.initializer}))
    return m


def _toposort(nodes: list[onnx.NodeProto], available: set[str]) -> list[onnx.NodeProto]:
    ready = set(available) | {""}
    pending = list(nodes)
    out: list[onnx.NodeProto] = []
    while pending:
        progressed = []
        rest = []
        for n in pending:
            (progressed if all(x in ready for x in n.input) else rest).append(n)
        if not progressed:
            raise ValueError("graph has a cycle or a missing input: " + ", ".join(n.name for n in rest[:5]))
        for n in progressed:
            out.append(n)
            ready.update(n.output)
        pending = rest
    return out
