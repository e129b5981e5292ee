"""The NVIDIA path's building blocks: kernel sources and builds (NVRTC, nvcc fatbin, host emulation), the CUDA
driver through cuda-python (device, buffers, module, graphs), TensorRT engine build/runtime, and the per-frame GPU
pipeline. Nothing here imports cuda-python or TensorRT at import time."""
