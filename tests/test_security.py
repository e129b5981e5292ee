"""Security properties: model weights load only from safetensors/ONNX (nothing unpickles), the runtime never imports
torch, and the live-control endpoint listens on loopback only, takes no file paths, and survives hostile input
without disturbing the stream."""

from __future__ import annotations

import ast
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vcam.config import RunConfig, Size
from vcam.control.server import POST_SCHEMAS, ControlServer
from vcam.control.state import Controls
from vcam.errors import VcamError

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "vcam"
# The one place a torch checkpoint is read: the perceptual-loss network's ImageNet weights, with weights_only=True.
TORCH_LOAD_ALLOWED = {PKG / "model" / "lossnet.py"}
# The runtime path (what `vcam run` executes) must not need torch or the training package.
RUNTIME = ["capture", "engines", "ops", "sinks", "control", "pipeline.py", "runner.py", "frames.py", "config.py",
           "styles.py", "stats.py", "errors.py", "diagnostics.py"]
UNPICKLING_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _py_files(*parts: str) -> list[Path]:
    out = []
    for part in parts:
        p = PKG / part
        out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.is_file() else [])
    return out


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _kw_true(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def _unsafe_loads(path: Path) -> list[str]:
    """Calls and imports in ``path`` that could unpickle data."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where} import {a.name}" for a in node.names if a.name.split(".")[0] in UNPICKLING_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLING_MODULES:
            found.append(f"{where} from {node.module} import ...")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            last = name.rsplit(".", 1)[-1]
            if name.endswith("torch.load"):
                if not (_kw_true(node, "weights_only") and path in TORCH_LOAD_ALLOWED):
                    allowed = ", ".join(str(p.relative_to(REPO)) for p in TORCH_LOAD_ALLOWED)
                    found.append(f"{where} {name}(...) (only {allowed} may, with weights_only=True)")
            elif name.endswith("jit.load") or name.endswith("serialization.load"):
                found.append(f"{where} {name}(...)")
            elif last in ("load", "loads") and name.split(".")[0] in UNPICKLING_MODULES:
                found.append(f"{where} {name}(...)")
            elif name in ("np.load", "numpy.load") and _kw_true(node, "allow_pickle"):
                found.append(f"{where} {name}(..., allow_pickle=True)")
            elif last == "read_pickle":
                found.append(f"{where} {name}(...)")
    return found


def test_nothing_in_the_package_can_unpickle_model_data():
    files = _py_files(".")
    assert len(files) > 20
    found = [hit for f in files for hit in _unsafe_loads(f)]
    assert not found, "unsafe deserialisation:\n" + "\n".join(found)


def test_the_checker_catches_what_it_looks_for(tmp_path, monkeypatch):
    bad = PKG / "_security_probe_not_a_module.py"
    text = ("import pickle\nimport torch\nimport numpy as np\n"
            "a = torch.load('x')\nb = torch.load('x', weights_only=True)\nc = np.load('x', allow_pickle=True)\n"
            "d = pickle.loads(b'')\n")
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: text)
    hits = _unsafe_loads(bad)
    assert len(hits) == 5, hits     # import pickle, both torch.load outside lossnet, np.load, pickle.loads


def test_lossnet_reads_its_checkpoint_with_weights_only():
    calls = [n for f in TORCH_LOAD_ALLOWED for n in ast.walk(ast.parse(f.read_text())) if isinstance(n, ast.Call)
             and _dotted(n.func).endswith("torch.load")]
    assert calls and all(_kw_true(c, "weights_only") for c in calls)


def test_shipped_models_are_safetensors_onnx_and_json_only():
    allowed = {".safetensors", ".onnx", ".json", ".md", ".txt"}
    files = [p for p in (REPO / "models").rglob("*") if p.is_file()]
    bad = [str(p.relative_to(REPO)) for p in files if p.suffix.lower() not in allowed]
    assert not bad, f"model files in a format that may execute code on load: {bad}"


def test_runtime_modules_do_not_import_torch_or_the_training_package():
    found = []
    for f in _py_files(*RUNTIME):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{f.relative_to(REPO)}:{node.lineno} {n}" for n in names
                      if n.split(".")[0] in ("torch", "torchvision") or n.startswith("vcam.model")]
    assert not found, "runtime code imports torch / vcam.model:\n" + "\n".join(found)


def test_a_run_never_loads_torch():
    code = ("import sys\nfrom vcam.cli import app\nimport vcam.runner, vcam.pipeline, vcam.capture, vcam.sinks\n"
            "import vcam.engines\ntry:\n    import vcam.engines.cpu\nexcept ImportError:\n    pass\n"
            "bad = sorted(m for m in sys.modules\n"
            "             if m.split('.')[0] in ('torch', 'pickle5') or m.startswith('vcam.model'))\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stdout + p.stderr


# -- the control endpoint ------------------------------------------------------------------------------------------
def _non_loopback_ip() -> str | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))        # TEST-NET address: nothing is sent, the kernel only picks a route
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", ""])
def test_control_endpoint_refuses_any_address_but_loopback(host):
    with pytest.raises(VcamError, match="127.0.0.1"):
        ControlServer(Controls(("a",)), port=0, host=host, write_runtime_file=False)


def test_control_endpoint_is_unreachable_from_the_network():
    server = ControlServer(Controls(("a",)), port=0, write_runtime_file=False)
    server.start()
    try:
        assert server.bound_address[0] == "127.0.0.1"
        ip = _non_loopback_ip()
        if ip is None:
            pytest.skip("this machine has no non-loopback address to try")
        with pytest.raises(OSError):
            socket.create_connection((ip, server.port), timeout=2).close()
    finally:
        server.stop()


def test_no_route_takes_a_file_path():
    pathy = ("path", "file", "dir", "folder", "filename", "model", "output", "device", "url")
    fields = {f for schema in POST_SCHEMAS.values() for f in schema}
    assert not [f for f in fields if any(p in f.lower() for p in pathy)], fields


# -- hostile input while a real run streams ------------------------------------------------------------------------
class _Streaming:
    """`vcam run --input pattern --output null --control-port 0` through the real runner, on a thread."""

    def __init__(self, tmp_path: Path) -> None:
        self.port: int | None = None
        self.summary: dict | None = None
        self.error: BaseException | None = None
        self.cfg = RunConfig(input="pattern", outputs=("null",), style="none", engine="passthrough",
                             size=Size(160, 120), fps=30.0, control_port=0, quiet=True)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _say(self, msg: str) -> None:
        if "127.0.0.1:" in msg and self.port is None:
            self.port = int(msg.split("127.0.0.1:")[1].split()[0].strip("/)"))

    def _run(self) -> None:
        from vcam import pipeline, runner

        # Stop when the test says so: the runner's own signal handling is for the main thread only.
        original = pipeline.Pipeline.run

        def run(pl):
            self.pipeline = pl
            return original(pl)

        pipeline.Pipeline.run = run
        try:
            self.summary = runner.run(self.cfg, say=self._say)
        except BaseException as exc:   # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            pipeline.Pipeline.run = original

    def request(self, method: str, route: str, body: bytes | None = None, headers: dict | None = None,
                auth: bool = True):
        from vcam.control.client import find_token

        h = dict(headers or {})
        if auth:
            h.setdefault("Authorization", f"Bearer {find_token()}")   # the secret this run wrote for its user
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, route, body=body, headers=h)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def frames(self) -> int:
        status, data = self.request("GET", "/status")
        assert status == 200
        return json.loads(data)["stats"]["frames"]


RAW_GARBAGE = [
    b"\x00\xff\xfe garbage\r\n\r\n",
    b"GET /" + b"A" * 70000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"POST /strength HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"value\"",   # body cut short
    b"POST /strength HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
    b"POST /style HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n",
    b"GET /status HTTP/1.1\r\n" + b"X-Header: x\r\n" * 500 + b"\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",                                       # a TLS hello
]
JSON_HEADERS = {"Content-Type": "application/json", "Host": "127.0.0.1"}
BAD_BODIES = [
    ("/strength", b"{not json"), ("/strength", b'{"value": NaN}'), ("/strength", b'{"value": 1e999}'),
    ("/strength", b'{"value": "0.5"}'), ("/strength", b'{"value": 7}'), ("/strength", b"[1, 2]"),
    ("/strength", b'{"value": 0.5, "path": "/etc/passwd"}'), ("/style", b'{"name": "../../../etc/passwd"}'),
    ("/style", b'{"name": {"nested": [1, 2]}}'), ("/blend", b'{"weights": {"a": -1}}'),
    ("/blend", b'{"weights": {"a": 1e308, "b": 1e308}}'),
    ("/blend", b'{"weights": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("/preset/save", b'{"name": "../../escape"}'), ("/preset/save", b'{"name": "/tmp/vcam-evil"}'),
    ("/preset/load", b'{"name": "/etc/passwd"}'), ("/quality", b'{"mode": "\\u0000"}'),
    ("/strength", "\udcff".encode("utf-8", "surrogatepass")), ("/strength", b"\xff\xfe\x00"),
    ("/nope", b"{}"), ("/status", b"{}"),
]


@pytest.mark.slow
def test_malformed_control_messages_never_disturb_the_stream(tmp_path, monkeypatch):
    monkeypatch.setenv("VCAM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("VCAM_RUNTIME_DIR", str(tmp_path / "run"))
    run = _Streaming(tmp_path)
    run.thread.start()
    deadline = time.monotonic() + 60
    while run.port is None and run.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.error is None and run.port is not None, f"the run did not start: {run.error!r}"
    try:
        while run.frames() < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        before = run.frames()
        statuses = []
        for route, body in BAD_BODIES:
            status, data = run.request("POST", route, body, JSON_HEADERS)
            statuses.append((route, body[:40], status))
            assert 400 <= status < 500, f"{route} {body[:60]!r} -> {status}"
            assert json.loads(data)["ok"] is False
        for raw in RAW_GARBAGE:
            with socket.create_connection(("127.0.0.1", run.port), timeout=5) as s:
                try:
                    s.sendall(raw)
                    s.shutdown(socket.SHUT_WR)
                    s.settimeout(6)
                    reply = s.recv(200)
                except OSError:
                    reply = b""
            assert not reply or reply.startswith(b"HTTP/1.") and b" 5" not in reply[:13], (raw[:40], reply[:80])
        # Requests from a web page (another origin, or a DNS-rebound host name) are refused.
        for headers in ({"Host": "evil.example:80", "Content-Type": "application/json"},
                        {"Host": "127.0.0.1", "Origin": "http://evil.example", "Content-Type": "application/json"},
                        {"Host": "127.0.0.1", "Content-Type": "text/plain"}):
            assert run.request("POST", "/strength", b'{"value": 0.1}', headers)[0] in (400, 403, 415)
        # Without the run's secret, or with another one, nothing changes: 401.
        for auth in ({}, {"Authorization": "Bearer not-the-secret"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
            status, data = run.request("POST", "/strength", b'{"value": 0.9}', {**JSON_HEADERS, **auth}, auth=False)
            assert status == 401 and json.loads(data)["ok"] is False
        # The stream went on, and the endpoint still obeys a good request.
        time.sleep(0.5)
        assert run.frames() > before, "frames stopped while the endpoint was being fuzzed"
        status, data = run.request("POST", "/strength", b'{"value": 0.25}', JSON_HEADERS)
        assert status == 200 and json.loads(data)["state"]["strength"] == 0.25
        assert run.thread.is_alive() and run.error is None
        # No request with a path-like name wrote anything outside the config folder.
        assert not Path("/tmp/vcam-evil").exists() and not (tmp_path / "escape").exists()
    finally:
        pl = getattr(run, "pipeline", None)
        if pl is not None:
            pl.stop()
        run.thread.join(timeout=20)
    assert not run.thread.is_alive() and run.error is None and run.summary["frames"] > before
