"""`vcam ctl ...` round trips: the typer sub-app, through the client, against a live endpoint in this process."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from vcam.control.client import ControlClient
from vcam.control.ctl_cli import ctl_app
from vcam.control.server import ControlServer
from vcam.control.state import Controls
from vcam.errors import VcamError

runner = CliRunner()


@pytest.fixture
def controls(styles) -> Controls:
    return Controls(styles, blend={styles[0]: 1.0}, transition_s=0.0)


@pytest.fixture
def server(controls):
    with ControlServer(controls, port=0, stats=lambda: {"fps": 30.0, "latency_ms": 28.5}) as srv:
        yield srv


def ctl(*args: str):
    return runner.invoke(ctl_app, list(args))


def ok_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_round_trip_via_the_recorded_port(server, controls, styles):
    # No --port: the client finds the server through the runtime file it wrote.
    status = ok_json(ctl("status"))
    assert status["state"]["blend"] == {styles[0]: 1.0}
    assert status["stats"] == {"fps": 30.0, "latency_ms": 28.5} and status["server"]["port"] == server.port

    assert ok_json(ctl("style", styles[1]))["state"]["blend"] == {styles[1]: 1.0}
    assert controls.snapshot().weights == {styles[1]: 1.0}

    blend = ok_json(ctl("blend", f"{styles[0]}=0.7,{styles[2]}=0.3"))["state"]["blend"]
    assert blend == pytest.approx({styles[0]: 0.7, styles[2]: 0.3})

    assert ok_json(ctl("strength", "0.4"))["state"]["strength"] == 0.4
    assert ok_json(ctl("pause"))["state"]["paused"] is True and controls.snapshot().paused
    assert ok_json(ctl("resume"))["state"]["paused"] is False
    token = controls.snapshot().reset_token
    ok_json(ctl("reset"))
    assert controls.snapshot().reset_token == token + 1
    assert ok_json(ctl("quality", "medium"))["state"]["quality"] == "medium"
    assert ok_json(ctl("blend", "none"))["state"]["blend"] == {}


def test_presets_through_ctl(server, controls, styles):
    ctl("blend", f"{styles[1]}=1,{styles[3]}=1")
    ctl("strength", "0.7")
    saved = ok_json(ctl("preset", "save", "mine"))
    assert saved["look"] == {"blend": {styles[1]: 0.5, styles[3]: 0.5}, "strength": 0.7, "quality": "auto"}
    listed = ok_json(ctl("preset", "list"))
    assert list(listed["presets"]) == ["mine"]
    ctl("style", styles[0])
    ok_json(ctl("preset", "load", "mine"))
    assert controls.look()["blend"] == {styles[1]: 0.5, styles[3]: 0.5} and controls.look()["strength"] == 0.7
    assert ok_json(ctl("preset", "delete", "mine"))["deleted"] == "mine"
    assert ok_json(ctl("preset", "list"))["presets"] == {}


def test_explicit_port_and_errors_from_the_server(server, styles):
    result = ctl("--port", str(server.port), "style", "picasso")
    assert result.exit_code == 1
    assert "Unknown style 'picasso'" in result.stderr and styles[0] in result.stderr
    result = ctl("--port", str(server.port), "strength", "3")
    assert result.exit_code == 1 and "between 0 and 1" in result.stderr
    result = ctl("blend", "a=x")
    assert result.exit_code == 1 and "Bad weight" in result.stderr
    result = ctl("preset", "load", "../../x")
    assert result.exit_code == 1 and "Bad preset name" in result.stderr


def test_no_running_vcam_is_a_clear_error():
    port = free_port()
    result = ctl("--port", str(port), "status")
    assert result.exit_code == 1
    assert f"No running vcam answers on http://127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr and "Traceback" not in result.output


def test_stale_runtime_file_is_reported_as_not_running(controls):
    srv = ControlServer(controls, port=0)
    srv.start()
    port = srv.port
    srv.write_runtime_file = False       # leave the file behind, as a crashed vcam would
    srv.stop()
    result = ctl("status")
    assert result.exit_code == 1 and f"127.0.0.1:{port}" in result.stderr and "control.json" in result.stderr


def test_client_ignores_proxy_settings(server, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert ControlClient(port=server.port).status()["ok"] is True


def test_client_against_something_that_is_not_vcam():
    import http.server
    import threading

    class Other(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>not vcam</html>")

        def log_message(self, *a):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Other)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        with pytest.raises(VcamError, match="not vcam's JSON"):
            ControlClient(port=httpd.server_address[1]).status()
    finally:
        httpd.shutdown()
        httpd.server_close()
