"""Styles: the installed model's manifest and files, style specs, and the codes the network takes.

Built-in styles are stored codes; styles given as a picture get their code from the style encoder; a blend is a mix
of codes. The engines only ever see a code vector, wherever it came from.
"""

from vcam.styles.codes import StyleCodes
from vcam.styles.manifest import (
    BASE_NETWORK,
    FORMAT,
    MANIFEST,
    READABLE_VERSIONS,
    STYLE_CODES,
    VERSION,
    Manifest,
    default_model_dir,
    load_manifest,
    sha256_file,
    verify_onnx,
    write_manifest,
)
from vcam.styles.spec import parse_style_spec, resolve_blend

__all__ = ["BASE_NETWORK", "FORMAT", "MANIFEST", "READABLE_VERSIONS", "STYLE_CODES", "VERSION", "Manifest",
           "StyleCodes", "default_model_dir", "load_manifest", "parse_style_spec", "resolve_blend", "sha256_file",
           "verify_onnx", "write_manifest"]
