"""The localhost endpoint: loopback only, strict about what it accepts, and never disturbed by bad requests."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from vcam.control import paths
from vcam.control.server import MAX_BODY, ControlServer, check_bind_host
from vcam.control.state import Controls
from vcam.errors import VcamError


class Reader:
    """Stands in for the pipeline: snapshots the controls continuously while the test pokes the server."""

    def __init__(self, controls: Controls) -> None:
        self.controls = controls
        self.count = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            try:
                self.controls.snapshot()
                self.count += 1
            except BaseException as exc:   # noqa: BLE001 - any failure is the test's finding
                self.errors.append(exc)

    def __enter__(self) -> Reader:
        self._t.start()
        assert self.wait_for_more(0)
        return self

    def wait_for_more(self, than: int, timeout: float = 5.0) -> bool:
        """True once the reader has taken more than ``than`` snapshots (it keeps running)."""
        end = time.monotonic() + timeout
        while self.count <= than and time.monotonic() < end:
            time.sleep(0.002)
        return self.count > than

    def __exit__(self, *a: object) -> None:
        self._stop.set()
        self._t.join()


@pytest.fixture
def controls(styles) -> Controls:
    return Controls(styles, blend={styles[0]: 1.0}, strength=1.0, transition_s=0.0)


@pytest.fixture
def server(controls):
    stats = {"fps": 29.5, "latency_ms": 31.0}
    srv = ControlServer(controls, port=0, stats=lambda: dict(stats),
                        on_demand=lambda: {"device": "/dev/video10", "readers": 0, "active": False})
    srv.start()
    yield srv
    srv.stop()


def call(server, method: str, path: str, body: bytes | str | dict | None = None, headers: dict | None = None,
         json_ct: bool = True, auth: bool = True):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    h = {"Content-Type": "application/json"} if json_ct and method == "POST" else {}
    if auth:
        h["Authorization"] = f"Bearer {server.token}"
    h.update(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body)
    try:
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    return resp.status, (json.loads(raw) if raw else None), resp


def test_binds_loopback_only(server):
    host, port = server.bound_address
    assert host == "127.0.0.1" and port == server.port > 0
    for bad in ("0.0.0.0", "::", "192.168.1.10", "example.com", "::1", ""):
        with pytest.raises(VcamError, match="only listens on 127.0.0.1"):
            ControlServer(server.controls, port=0, host=bad)
    assert check_bind_host("localhost") == "127.0.0.1"


def test_status_has_state_stats_and_on_demand(server, styles):
    status, body, resp = call(server, "GET", "/status")
    assert status == 200 and resp.getheader("Content-Type").startswith("application/json")
    assert body["state"]["styles"] == list(styles) and body["state"]["blend"] == {styles[0]: 1.0}
    assert body["stats"] == {"fps": 29.5, "latency_ms": 31.0}
    assert body["on_demand"]["readers"] == 0
    assert body["server"]["port"] == server.port


def test_posts_change_the_state(server, controls, styles):
    assert call(server, "POST", "/style", {"name": styles[2]})[1]["state"]["blend"] == {styles[2]: 1.0}
    body = call(server, "POST", "/blend", {"weights": {styles[0]: 3, styles[1]: 1}})[1]
    assert body["state"]["blend"] == pytest.approx({styles[0]: 0.75, styles[1]: 0.25})
    assert call(server, "POST", "/strength", {"value": 0.25})[1]["state"]["strength"] == 0.25
    assert call(server, "POST", "/pause")[1]["state"]["paused"] is True
    assert call(server, "POST", "/resume", {})[1]["state"]["paused"] is False
    token = controls.snapshot().reset_token
    assert call(server, "POST", "/reset")[0] == 200 and controls.snapshot().reset_token == token + 1
    assert call(server, "POST", "/quality", {"mode": "high"})[1]["state"]["quality"] == "high"
    assert call(server, "POST", "/style", {"name": "none"})[1]["state"]["blend"] == {}
    snap = controls.snapshot()
    assert snap.weights == {} and snap.strength == 0.25 and snap.quality == "high"


def test_presets_over_http(server, controls, styles):
    call(server, "POST", "/blend", {"weights": {styles[1]: 1, styles[2]: 1}})
    status, body, _ = call(server, "POST", "/preset/save", {"name": "duo"})
    assert status == 200 and body["look"]["blend"] == {styles[1]: 0.5, styles[2]: 0.5}
    call(server, "POST", "/style", {"name": styles[0]})
    assert call(server, "POST", "/preset/load", {"name": "duo"})[1]["state"]["blend"] == {styles[1]: 0.5,
                                                                                          styles[2]: 0.5}
    status, body, _ = call(server, "POST", "/preset/load", {"name": "../../etc/passwd"})
    assert status == 400 and "Bad preset name" in body["error"]
    status, body, _ = call(server, "POST", "/preset/load", {"name": "missing"})
    assert status == 400 and "No preset named" in body["error"]


BAD_REQUESTS = [
    # (method, path, body, headers, json content type, expected status, text in the error)
    ("POST", "/style", "{not json", None, True, 400, "not valid JSON"),
    ("POST", "/style", "[1, 2]", None, True, 400, "JSON object"),
    ("POST", "/style", {"name": "picasso"}, None, True, 400, "Unknown style"),
    ("POST", "/style", {"name": 3}, None, True, 400, "must be a string"),
    ("POST", "/style", {}, None, True, 400, "Missing field 'name'"),
    ("POST", "/style", {"name": "udnie", "evil": 1}, None, True, 400, "Unexpected field"),
    ("POST", "/strength", {"value": 1.5}, None, True, 400, "between 0 and 1"),
    ("POST", "/strength", {"value": "0.5"}, None, True, 400, "must be a number"),
    ("POST", "/strength", {"value": True}, None, True, 400, "must be a number"),
    ("POST", "/strength", '{"value": NaN}', None, True, 400, "not valid JSON"),
    ("POST", "/blend", {"weights": {"udnie": -1}}, None, True, 400, "weights"),
    ("POST", "/blend", {"weights": [1]}, None, True, 400, "must be an object"),
    ("POST", "/quality", {"mode": "ultra"}, None, True, 400, "Unknown quality"),
    ("POST", "/pause", {"x": 1}, None, True, 400, "Unexpected field"),
    ("POST", "/style", "\xff\xfe", None, True, 400, "not valid JSON"),
    ("POST", "/style", "[" * 2000 + "]" * 2000, None, True, 400, "not valid JSON"),
    ("POST", "/style", "x" * (MAX_BODY + 1), None, True, 413, "limit"),
    ("POST", "/nope", {}, None, True, 404, "No route"),
    ("GET", "/nope", None, None, True, 404, "No route"),
    ("GET", "/style", None, None, True, 405, "POST only"),
    ("POST", "/status", {}, None, True, 405, "GET only"),
    ("DELETE", "/style", None, None, True, 405, "POST only"),
    ("POST", "/style", '{"name": "udnie"}', None, False, 415, "Content-Type"),
    ("POST", "/style", '{"name": "udnie"}', {"Content-Type": "text/plain"}, False, 415, "Content-Type"),
    ("POST", "/pause", None, None, False, 415, "Content-Type"),                       # a bare cross-site form
    ("GET", "/status", None, {"Host": "evil.example:8765"}, True, 403, "not allowed"),
    ("POST", "/pause", None, {"Host": "attacker.test"}, True, 403, "not allowed"),
    ("POST", "/style", {"name": "udnie"}, {"Host": "127.0.0.1.attacker.test"}, True, 403, "not allowed"),
    ("POST", "/pause", None, {"Origin": "http://evil.example"}, True, 403, "origin"),
    ("GET", "/status", None, {"Origin": "null"}, True, 403, "origin"),
    ("POST", "/style", '{"name": "udnie"}', {"Content-Length": "-5"}, True, 400, "Content-Length"),
    ("POST", "/style", '{"name": "udnie"}', {"Transfer-Encoding": "chunked"}, True, 411, "Content-Length"),
]


@pytest.mark.parametrize("method,path,body,headers,json_ct,expected,text", BAD_REQUESTS,
                         ids=[f"{r[0]} {r[1]} {r[5]} {i}" for i, r in enumerate(BAD_REQUESTS)])
def test_bad_requests_get_4xx_and_change_nothing(server, controls, method, path, body, headers, json_ct,
                                                 expected, text):
    before = (controls.look(), controls.version)
    with Reader(controls) as reader:
        status, payload, _ = call(server, method, path, body, headers, json_ct)
        assert status == expected, payload
        assert payload["ok"] is False and text.lower() in json.dumps(payload).lower()
        assert call(server, "GET", "/status")[0] == 200       # still serving
        assert reader.wait_for_more(reader.count)              # the "stream" goes on
    assert (controls.look(), controls.version) == before
    assert not reader.errors


def test_unknown_style_answer_lists_the_styles(server, styles):
    status, body, _ = call(server, "POST", "/style", {"name": "picasso"})
    assert status == 400 and body["styles"] == list(styles) and all(s in body["hint"] for s in styles)


def test_custom_header_allows_bodyless_post_and_local_origins_pass(server, controls):
    assert call(server, "POST", "/pause", None, {"X-Vcam-Control": "1"}, json_ct=False)[0] == 200
    assert controls.snapshot().paused
    origin = f"http://localhost:{server.port}"
    assert call(server, "POST", "/resume", {}, {"Origin": origin, "Host": f"localhost:{server.port}"})[0] == 200
    assert not controls.snapshot().paused


def test_garbage_on_the_socket_and_half_requests_do_not_stop_the_server(server, controls):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"\x00\x01 NOT HTTP AT ALL\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.0 400")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        # Promise a body and hang up before sending it.
        s.sendall(b"POST /style HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"na")
    assert call(server, "GET", "/status")[0] == 200


def test_a_failing_stats_callback_does_not_break_status(controls):
    def broken() -> dict:
        raise RuntimeError("stats exploded")

    with ControlServer(controls, port=0, stats=broken) as srv:
        status, body, _ = call(srv, "GET", "/status")
    assert status == 200 and "stats exploded" in body["stats_error"] and body["state"]["styles"]


def test_runtime_file_names_the_port_and_is_removed_on_stop(controls):
    srv = ControlServer(controls, port=0)
    port = srv.start()
    try:
        assert paths.read_control_file()["port"] == port
    finally:
        srv.stop()
    assert paths.read_control_file() is None


def test_port_in_use_is_a_clear_error(server, controls):
    with pytest.raises(VcamError, match=f"127.0.0.1:{server.port}") as e:
        ControlServer(controls, port=server.port, write_runtime_file=False).start()
    assert "--control-port" in e.value.hint
    assert call(server, "GET", "/status")[0] == 200
