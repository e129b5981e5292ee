"""The local control endpoint: HTTP/JSON on 127.0.0.1, for `vcam ctl`, OBS scripts, Stream Deck and the like.

It binds the loopback address only (anything else is refused), runs on daemon threads beside the pipeline and
only ever touches the thread-safe ``Controls`` (and, for a picture, the style registry through a callback): a bad or
hostile request gets a 4xx and never reaches the stream. Only the user may drive their camera: each run makes a
random secret, and every request must carry it as ``Authorization: Bearer SECRET`` (else 401, nothing changes).
The port and the secret are written to ``control.json`` in the runtime dir, readable by the user alone (paths.py),
so `vcam ctl` finds both; any other local account or process that can reach 127.0.0.1 cannot.

API (every response is a JSON object; errors are ``{"ok": false, "error": "...", "hint": "..."}``)

    GET  /              the list of routes
    GET  /status        {"ok", "state": {styles, style, blend, current, strength, current_strength, paused,
                         quality, transition_s, transitioning, reset_token, version},
                         "stats": {fps, latency_ms, ...}, "on_demand": {...} or null, "server": {port, pid}}
    POST /style         {"name": "starry_night"}          "none" = passthrough
    POST /blend         {"weights": {"starry_night": 0.7, "udnie": 0.3}}   normalised to sum 1
    POST /strength      {"value": 0.5}                    0..1
    POST /region        {"name": "all" | "background" | "person"}   person-aware mode (needs person.onnx)
    POST /person-strength      {"value": 0.2}             the person's strength, 0..1
    POST /background-strength  {"value": 0.8}             the background's; /region "all" makes both follow
    POST /pause         (no body)                         passthrough, style settings kept
    POST /resume        (no body)
    POST /reset         (no body)                         forget the network's recurrent state
    POST /quality       {"mode": "auto" | "low" | "medium" | "high"}
    POST /preset/save   {"name": "calm"}                  the current blend, strength and quality
    POST /preset/load   {"name": "calm"}
    POST /style-image   the picture's bytes (Content-Type image/* or application/octet-stream, at most 25 MB and
                        50 MP): any picture as a style, cross-faded in; a non-image, a truncated file or a
                        decompression bomb is a 400 and the stream keeps its style. Answers {"ok", "style",
                        "encode_ms", "state"}. The endpoint never takes file paths.
    POST /background    the picture's bytes (as /style-image): put it behind the person, painted in the style
                        (person-aware mode; needs person.onnx)
    POST /background/clear  (no body)                     the camera's own room again
    POST /frame         {"mode": "auto" | "off"}          auto-framing (needs person.onnx)

A POST answers ``{"ok": true, "state": {...}}`` with the state after the change; style and strength changes ease in
over ``transition_s``. Rules that keep web pages out: the Host header must be 127.0.0.1 or localhost (DNS
rebinding), a request with an Origin header must come from this endpoint's own origin, and a POST must carry
``Content-Type: application/json`` or the header ``X-Vcam-Control: 1`` (a cross-site form cannot send either
without a CORS preflight, which is never granted). JSON bodies are at most 4 KiB; unknown fields are errors.

    TOKEN=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['token'])" "$(vcam ctl file)")
    curl -s http://127.0.0.1:8765/status -H "Authorization: Bearer $TOKEN"
    curl -s -X POST http://127.0.0.1:8765/style -H "Authorization: Bearer $TOKEN" \
         -H 'Content-Type: application/json' -d '{"name": "udnie"}'
    curl -s -X POST http://127.0.0.1:8765/style-image -H "Authorization: Bearer $TOKEN" \
         -H 'Content-Type: image/png' --data-binary @my_drawing.png
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import os
import secrets
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vcam.control.paths import remove_control_file, write_control_file
from vcam.control.presets import Look, PresetStore, apply_preset, save_current
from vcam.control.state import Controls
from vcam.errors import VcamError

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
MAX_BODY = 4096
DRAIN_LIMIT = 64 * 1024
LOOPBACK = "127.0.0.1"
LOCAL_HOSTNAMES = ("127.0.0.1", "localhost")
CUSTOM_HEADER = "X-Vcam-Control"

# Route -> required fields and their JSON types. No optional fields: anything else in a body is an error.
NUMBER = "number"
POST_SCHEMAS: dict[str, dict[str, object]] = {
    "/style": {"name": str},
    "/blend": {"weights": dict},
    "/strength": {"value": NUMBER},
    "/region": {"name": str},
    "/person-strength": {"value": NUMBER},
    "/background-strength": {"value": NUMBER},
    "/pause": {},
    "/resume": {},
    "/reset": {},
    "/background/clear": {},
    "/frame": {"mode": str},
    "/quality": {"mode": str},
    "/preset/save": {"name": str},
    "/preset/load": {"name": str},
}
GET_ROUTES = ("/", "/status")
IMAGE_ROUTE = "/style-image"      # a body of picture bytes, not JSON
BACKDROP_ROUTE = "/background"     # the same, for the picture behind the person
IMAGE_ROUTES = (IMAGE_ROUTE, BACKDROP_ROUTE)
IMAGE_TYPES = ("application/octet-stream",)   # and every image/*


class BadRequest(Exception):
    def __init__(self, status: int, message: str, hint: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.status, self.message, self.hint, self.extra = status, message, hint, extra


def check_bind_host(host: str) -> str:
    """Only the IPv4 loopback: the secret protects it from other local users, not from a network."""
    if host == "localhost":
        return LOOPBACK
    try:
        ok = ipaddress.ip_address(host) == ipaddress.ip_address(LOOPBACK)
    except ValueError:
        ok = False
    if not ok:
        raise VcamError(f"The control endpoint only listens on {LOOPBACK} (asked for {host!r}).",
                        "It is for this machine only; to reach it from elsewhere, tunnel it (e.g. ssh -L).")
    return LOOPBACK


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid JSON number here")


def _host_name(header: str) -> str:
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class ControlServer:
    """The endpoint for one running pipeline. ``stats()`` and ``on_demand()`` are called per GET /status."""

    def __init__(self, controls: Controls, port: int = DEFAULT_PORT, host: str = LOOPBACK,
                 stats: Callable[[], dict] | None = None, on_demand: Callable[[], dict | None] | None = None,
                 presets: PresetStore | None = None, write_runtime_file: bool = True, token: str | None = None,
                 style_image: Callable[[bytes], dict] | None = None, max_image_bytes: int | None = None) -> None:
        if not isinstance(port, int) or not 0 <= port < 65536:
            raise VcamError(f"Bad control port {port!r}.", "Use 1-65535, or 0 to pick a free port.")
        self.controls = controls
        self.host = check_bind_host(host)
        self.requested_port = port
        self.stats = stats
        self.on_demand = on_demand
        self.presets = presets or PresetStore()
        self.write_runtime_file = write_runtime_file
        # A fresh secret per run: a second run never accepts the first run's (tests/test_security.py).
        self.token = token if token is not None else secrets.token_urlsafe(32)
        self.style_image = style_image
        if max_image_bytes is None:
            from vcam.styles.images import MAX_BYTES as max_image_bytes
        self.max_image_bytes = max_image_bytes
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> int:
        """Bind and serve on a daemon thread; returns the port (the real one when 0 was asked for)."""
        try:
            httpd = _Server((self.host, self.requested_port), _Handler)
        except OSError as exc:
            raise VcamError(f"Cannot open the control endpoint on {self.host}:{self.requested_port}: {exc.strerror}.",
                            "Another vcam may be running (`vcam ctl status`); pick another port with "
                            "--control-port N, or 0 for any free one.") from exc
        bound = httpd.server_address[0]
        if not ipaddress.ip_address(bound).is_loopback:   # belt and braces: never serve off-machine
            httpd.server_close()
            raise VcamError(f"The control endpoint bound {bound}, which is not loopback; refusing to serve.")
        httpd.app = self
        self._httpd = httpd
        self.port = int(httpd.server_address[1])
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="vcam-control-http", daemon=True)
        self._thread.start()
        if self.write_runtime_file:
            try:
                write_control_file(self.port, self.host, self.token)
            except OSError as exc:
                log.warning("could not record the control port (vcam ctl needs --port %d): %s", self.port, exc)
        return self.port

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self.write_runtime_file:
            remove_control_file(self.port)

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def bound_address(self) -> tuple[str, int] | None:
        return None if self._httpd is None else tuple(self._httpd.server_address[:2])  # type: ignore[return-value]

    # -- request logic (no HTTP here, so tests and other transports can call it) --------------------
    def status(self) -> dict:
        out: dict = {"ok": True, "state": self.controls.as_dict(), "stats": {}, "on_demand": None,
                     "server": {"port": self.port, "pid": os.getpid()}}
        for key, fn in (("stats", self.stats), ("on_demand", self.on_demand)):
            if fn is None:
                continue
            try:
                out[key] = fn()
            except Exception as exc:       # a broken callback must not break /status
                log.exception("status callback %s failed", key)
                out[f"{key}_error"] = str(exc)
        return out

    def post(self, route: str, body: dict) -> dict:
        c = self.controls
        try:
            if route == "/style":
                c.set_style(body["name"])
            elif route == "/blend":
                c.set_blend(body["weights"])
            elif route == "/strength":
                c.set_strength(body["value"])
            elif route == "/region":
                c.set_region(body["name"])
            elif route == "/person-strength":
                c.set_person_strength(body["value"])
            elif route == "/background-strength":
                c.set_background_strength(body["value"])
            elif route == "/background/clear":
                c.set_backdrop(None)
            elif route == "/frame":
                mode = body["mode"]
                if mode not in ("auto", "off"):
                    raise VcamError(f"Unknown framing {mode!r}.", "Choose auto or off.")
                c.set_framing(mode == "auto")
            elif route == "/pause":
                c.set_paused(True)
            elif route == "/resume":
                c.set_paused(False)
            elif route == "/reset":
                c.request_reset()
            elif route == "/quality":
                c.set_quality(body["mode"])
            elif route == "/preset/save":
                look: Look = save_current(c, body["name"], self.presets)
                return {"ok": True, "preset": body["name"], "look": look.to_dict(), "state": c.as_dict()}
            elif route == "/preset/load":
                apply_preset(c, body["name"], self.presets)
        except VcamError as exc:
            extra = {"styles": list(c.styles)} if route in ("/style", "/blend") else {}
            raise BadRequest(400, exc.message, exc.hint, **extra) from exc
        return {"ok": True, "state": c.as_dict()}

    def post_image(self, data: bytes) -> dict:
        if self.style_image is None:
            raise BadRequest(409, "This vcam cannot take a picture as a style (its model has no style encoder).",
                             "Use one of its styles: GET /status lists them.")
        _yield_cpu_to_stream()
        try:
            out = self.style_image(data)
        except VcamError as exc:
            raise BadRequest(400, exc.message, exc.hint) from exc
        return {"ok": True, **out, "state": self.controls.as_dict()}

    def post_backdrop(self, data: bytes) -> dict:
        import cv2

        from vcam.styles.images import decode_image

        try:
            rgb = decode_image(data, "The background picture")
            self.controls.set_backdrop(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        except VcamError as exc:
            raise BadRequest(400, exc.message, exc.hint) from exc
        return {"ok": True, "state": self.controls.as_dict()}

    def authorised(self, header: str | None) -> bool:
        scheme, _, value = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode())


def validate_body(route: str, raw: bytes) -> dict:
    """Parse and check a POST body against POST_SCHEMAS; BadRequest(400) says exactly what is wrong."""
    schema = POST_SCHEMAS[route]
    if not raw.strip():
        body: object = {}
    else:
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BadRequest(400, f"The body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise BadRequest(400, "The body must be a JSON object.", _example(route))
    extra = sorted(set(body) - set(schema))
    if extra:
        raise BadRequest(400, f"Unexpected field(s) for {route}: {', '.join(extra)}.", _example(route))
    for field, kind in schema.items():
        if field not in body:
            raise BadRequest(400, f"Missing field {field!r} for {route}.", _example(route))
        v = body[field]
        if kind is NUMBER:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        else:
            ok = isinstance(v, kind)   # type: ignore[arg-type]
        if not ok:
            want = "a number" if kind is NUMBER else {str: "a string", dict: "an object"}[kind]  # type: ignore[index]
            raise BadRequest(400, f"Field {field!r} must be {want}.", _example(route))
    return body


_EXAMPLES = {"/style": '{"name": "starry_night"}', "/blend": '{"weights": {"starry_night": 0.7, "udnie": 0.3}}',
             "/strength": '{"value": 0.5}', "/region": '{"name": "background"}',
             "/person-strength": '{"value": 0.2}', "/background-strength": '{"value": 0.8}',
             "/quality": '{"mode": "auto"}', "/frame": '{"mode": "auto"}', "/preset/save": '{"name": "calm"}',
             "/preset/load": '{"name": "calm"}'}


def _example(route: str) -> str:
    return f"Example: {_EXAMPLES[route]}" if route in _EXAMPLES else f"{route} takes no fields (send {{}} or nothing)."


def _yield_cpu_to_stream() -> None:
    """Lower this request thread's CPU priority (Linux: per thread; it ends with the request). Decoding a picture
    and running the style encoder must not take a core from the frame thread's inference on a 2-core machine."""
    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A restarted vcam can take its port back at once; not on Windows, where SO_REUSEADDR lets two servers share it.
    allow_reuse_address = sys.platform != "win32"
    app: ControlServer

    def handle_error(self, request, client_address) -> None:  # stdlib signature
        log.debug("control connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "vcam-control"
    sys_version = ""
    timeout = 5.0                  # a client that stalls mid-request loses its connection, not a thread forever
    default_request_version = "HTTP/1.0"   # so even garbage gets a status line, not a bare HTTP/0.9 body

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own errors (bad request line, oversize headers) answered as JSON like ours."""
        self.close_connection = True
        try:
            self._error(BadRequest(code, message or self.responses.get(code, ("Error",))[0]))
        except OSError:
            pass

    # -- plumbing -----------------------------------------------------------------------------------
    def log_message(self, format: str, *args: object) -> None:  # stdlib signature
        log.debug("control %s - %s", self.address_string(), format % args)

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = (json.dumps(payload) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, exc: BadRequest, headers: dict[str, str] | None = None) -> None:
        payload: dict = {"ok": False, "error": exc.message}
        if exc.hint:
            payload["hint"] = exc.hint
        payload.update(exc.extra)
        self._send(exc.status, payload, headers)

    def _guarded(self, fn: Callable[[], None]) -> None:
        self._body_done = self.command in ("GET", "HEAD")
        try:
            fn()
        except BadRequest as exc:
            headers = {"Allow": exc.extra.pop("allow")} if "allow" in exc.extra else {}  # type: ignore[dict-item]
            if "www_authenticate" in exc.extra:
                headers["WWW-Authenticate"] = str(exc.extra.pop("www_authenticate"))
            self._drain()
            self._error(exc, headers)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("control request %s %s failed", self.command, self.path)
            try:
                self._error(BadRequest(500, "Internal error while handling the request (see the vcam log)."))
            except OSError:
                self.close_connection = True

    def _route(self) -> str:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        return path.rstrip("/") or "/"

    def _check_origin(self) -> None:
        host = self.headers.get("Host")
        if not host or _host_name(host) not in LOCAL_HOSTNAMES:
            raise BadRequest(403, f"Host {host!r} is not allowed; use http://127.0.0.1:{self.server.app.port}.")
        origin = self.headers.get("Origin")
        if origin is not None:
            port = self.server.app.port
            allowed = {f"http://{h}:{port}" for h in LOCAL_HOSTNAMES}
            if origin.rstrip("/").lower() not in allowed:
                raise BadRequest(403, f"Requests from origin {origin!r} are not allowed.")

    def _check_auth(self) -> None:
        app = self.server.app
        if not app.authorised(self.headers.get("Authorization")):
            from vcam.control.paths import control_file

            raise BadRequest(401, "Missing or wrong secret: send Authorization: Bearer <token>.",
                             f"vcam ctl reads it from {control_file()} (readable by you only); scripts read the "
                             "\"token\" field there.", www_authenticate='Bearer realm="vcam"')

    def _drain(self) -> None:
        """Read a body we refused before reading it: closing with unread data sends a TCP reset, which can
        destroy our answer before the client reads it."""
        if self._body_done:
            return
        self._body_done = True
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except (TypeError, ValueError):
            return
        if 0 < n <= DRAIN_LIMIT:
            try:
                self.rfile.read(n)
            except OSError:             # the client stalled or hung up: it will not read the answer either
                self.close_connection = True

    def _read_body(self, limit: int = MAX_BODY) -> bytes:
        self._body_done = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise BadRequest(411, "Send a Content-Length (chunked bodies are not accepted).")
        raw_len = self.headers.get("Content-Length")
        if raw_len is None:
            return b""
        try:
            n = int(raw_len)
        except ValueError as exc:
            raise BadRequest(400, f"Bad Content-Length {raw_len!r}.") from exc
        if n < 0:
            raise BadRequest(400, f"Bad Content-Length {raw_len!r}.")
        if n > limit:
            self.close_connection = True    # the unread body must not be parsed as a next request
            self._body_done = False         # so _drain reads (and drops) a modest oversize body
            raise BadRequest(413, f"The body is {n} bytes; the limit is {limit}.")
        data = self.rfile.read(n)
        if len(data) != n:
            raise BadRequest(400, "The body ended before Content-Length bytes arrived.")
        return data

    # -- methods ------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._guarded(self._get)

    def do_HEAD(self) -> None:
        self._guarded(self._get)

    def do_POST(self) -> None:
        self._guarded(self._post)

    def _other(self) -> None:
        self._guarded(self._method_not_allowed)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other

    def _method_not_allowed(self) -> None:
        self._check_origin()
        route = self._route()
        if route in GET_ROUTES:
            raise BadRequest(405, f"{route} answers GET only.", allow="GET, HEAD")
        if route in POST_SCHEMAS or route in IMAGE_ROUTES:
            raise BadRequest(405, f"{route} answers POST only.", allow="POST")
        raise BadRequest(404, f"No route {route}.", "GET / lists the routes.")

    def _get(self) -> None:
        self._check_origin()
        self._check_auth()
        route = self._route()
        app = self.server.app
        if route == "/status":
            self._send(200, app.status())
        elif route == "/":
            self._send(200, {"ok": True, "get": list(GET_ROUTES), "post": [*POST_SCHEMAS, *IMAGE_ROUTES]})
        elif route in POST_SCHEMAS or route in IMAGE_ROUTES:
            raise BadRequest(405, f"{route} answers POST only.", allow="POST")
        else:
            raise BadRequest(404, f"No route {route}.", "GET / lists the routes.")

    def _post(self) -> None:
        self._check_origin()
        self._check_auth()
        route = self._route()
        if route in IMAGE_ROUTES:
            self._post_image(route)
            return
        if route not in POST_SCHEMAS:
            if route in GET_ROUTES:
                raise BadRequest(405, f"{route} answers GET only.", allow="GET, HEAD")
            raise BadRequest(404, f"No route {route}.", "GET / lists the routes.")
        ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        raw = self._read_body()
        if ctype != "application/json" and (raw.strip() or CUSTOM_HEADER not in self.headers):
            raise BadRequest(415, "POST needs Content-Type: application/json "
                                  f"(or, with no body, the header {CUSTOM_HEADER}: 1).")
        body = validate_body(route, raw)
        self._send(200, self.server.app.post(route, body))

    def _post_image(self, route: str) -> None:
        ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if not (ctype.startswith("image/") or ctype in IMAGE_TYPES):
            cmd = "style-image" if route == IMAGE_ROUTE else "background"
            raise BadRequest(415, f"{route} takes the picture's bytes with Content-Type image/* or "
                                  f"application/octet-stream.", f"vcam ctl {cmd} PATH sends a file.")
        data = self._read_body(self.server.app.max_image_bytes)
        app = self.server.app
        self._send(200, app.post_image(data) if route == IMAGE_ROUTE else app.post_backdrop(data))
