"""Talk to a running vcam's control endpoint (server.py) over HTTP on 127.0.0.1.

The port: the one given, else the one the running vcam recorded in its runtime file (paths.control_file()),
else the default. The secret every request carries comes from that file too (or $VCAM_CONTROL_TOKEN). System proxy
settings are ignored: this traffic never leaves the machine.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from vcam.control.paths import control_file, read_control_file
from vcam.control.server import CUSTOM_HEADER, DEFAULT_PORT, LOOPBACK
from vcam.errors import VcamError


def find_port(port: int | None = None) -> tuple[int, str]:
    """The port to use and where it came from ('--port', the runtime file, 'default')."""
    if port is not None:
        return port, "--port"
    info = read_control_file()
    if info:
        return int(info["port"]), str(control_file())
    return DEFAULT_PORT, "default"


def find_token() -> str | None:
    """$VCAM_CONTROL_TOKEN, else the secret the running vcam recorded beside its port."""
    env = os.environ.get("VCAM_CONTROL_TOKEN")
    if env:
        return env
    info = read_control_file()
    token = info.get("token") if info else None
    return token if isinstance(token, str) else None


class ControlClient:
    def __init__(self, port: int | None = None, timeout: float = 3.0, token: str | None = None) -> None:
        self.port, self.port_source = find_port(port)
        self.token = token if token is not None else find_token()
        self.timeout = timeout
        self.base = f"http://{LOOPBACK}:{self.port}"
        # An empty ProxyHandler: an http_proxy in the environment must not swallow loopback requests.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, route: str, body: dict | None = None, raw: bytes | None = None,
                content_type: str = "application/json") -> dict:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode("utf-8"))
        req = urllib.request.Request(self.base + route, data=data, method=method)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        if method == "POST":
            req.add_header("Content-Type", content_type)
            req.add_header(CUSTOM_HEADER, "1")
            if data is None:
                req.data = b"{}"
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return self._decode(resp.read())
        except urllib.error.HTTPError as exc:
            payload = self._decode(exc.read(), strict=False)
            msg = payload.get("error") or f"HTTP {exc.code} from {self.base}{route}."
            hint = payload.get("hint")
            if exc.code == 401 and not self.token:
                hint = (f"No secret found: start `vcam run` (it writes {control_file()}), or set "
                        "VCAM_CONTROL_TOKEN.")
            raise VcamError(str(msg), hint) from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as exc:
            raise self._not_running(exc) from exc

    def _decode(self, raw: bytes, strict: bool = True) -> dict:
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            if not strict:
                return {}
            raise VcamError(f"{self.base} answered something that is not vcam's JSON.",
                            "Another program may use that port; pass the vcam port with --port.") from exc
        if not isinstance(payload, dict):
            if strict:
                raise VcamError(f"{self.base} answered something that is not vcam's JSON.")
            return {}
        return payload

    def _not_running(self, exc: Exception) -> VcamError:
        reason = getattr(exc, "reason", exc)
        where = {"--port": "the port you gave", "default": "the default port"}.get(
            self.port_source, f"the port recorded in {self.port_source}")
        return VcamError(f"No running vcam answers on {self.base} ({where}): {reason}.",
                         "Start `vcam run` with its control endpoint on (--control-port), or pass the port "
                         "it printed with --port.")

    # -- the API ------------------------------------------------------------------------------------
    def status(self) -> dict:
        return self.request("GET", "/status")

    def style(self, name: str) -> dict:
        return self.request("POST", "/style", {"name": name})

    def blend(self, weights: dict[str, float]) -> dict:
        return self.request("POST", "/blend", {"weights": weights})

    def strength(self, value: float) -> dict:
        return self.request("POST", "/strength", {"value": value})

    def region(self, name: str) -> dict:
        return self.request("POST", "/region", {"name": name})

    def person_strength(self, value: float) -> dict:
        return self.request("POST", "/person-strength", {"value": value})

    def background_strength(self, value: float) -> dict:
        return self.request("POST", "/background-strength", {"value": value})

    def frame(self, mode: str) -> dict:
        return self.request("POST", "/frame", {"mode": mode})

    def pause(self) -> dict:
        return self.request("POST", "/pause")

    def resume(self) -> dict:
        return self.request("POST", "/resume")

    def reset(self) -> dict:
        return self.request("POST", "/reset")

    def quality(self, mode: str) -> dict:
        return self.request("POST", "/quality", {"mode": mode})

    def preset_save(self, name: str) -> dict:
        return self.request("POST", "/preset/save", {"name": name})

    def preset_load(self, name: str) -> dict:
        return self.request("POST", "/preset/load", {"name": name})

    def style_image(self, path: Path) -> dict:
        """Send a picture's bytes (never its path: the endpoint reads no files)."""
        from vcam.styles.images import read_image_file

        return self.request("POST", "/style-image", raw=read_image_file(Path(path)),
                            content_type="application/octet-stream")

    def background(self, path: Path | None) -> dict:
        """Send a picture's bytes to put behind the person; None clears it."""
        if path is None:
            return self.request("POST", "/background/clear")
        from vcam.styles.images import read_image_file

        return self.request("POST", "/background", raw=read_image_file(Path(path)),
                            content_type="application/octet-stream")
