"""Only the user may drive their camera: every request needs this run's secret, kept in a file only they can read."""

from __future__ import annotations

import http.client
import json
import os
import stat
import sys

import pytest

from vcam.control import paths
from vcam.control.client import ControlClient
from vcam.control.server import ControlServer
from vcam.control.state import Controls
from vcam.errors import VcamError


@pytest.fixture
def server(styles):
    srv = ControlServer(Controls(styles, {styles[0]: 1.0}, transition_s=0.0), port=0)
    srv.start()
    yield srv
    srv.stop()


def _request(port: int, method: str, route: str, headers: dict, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, route, body=body, headers={"Host": "127.0.0.1", **headers})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}"), r
    finally:
        conn.close()


@pytest.mark.parametrize("auth", [None, "Bearer wrong-secret", "Bearer ", "Basic dXNlcjpwYXNz", "token-alone"])
def test_without_the_secret_nothing_changes(server, styles, auth):
    before = server.controls.as_dict()
    headers = {"Content-Type": "application/json"} | ({"Authorization": auth} if auth else {})
    for method, route, body in (("GET", "/status", None), ("POST", "/strength", b'{"value": 0.2}'),
                                ("POST", "/style", json.dumps({"name": styles[1]}).encode()),
                                ("POST", "/pause", b"{}")):
        status, payload, resp = _request(server.port, method, route, headers, body)
        assert status == 401, (method, route, auth)
        assert payload["ok"] is False and "Authorization: Bearer" in payload["error"]
        assert str(paths.control_file()) in payload["hint"]            # says where the secret is
        assert resp.getheader("WWW-Authenticate", "").startswith("Bearer")
    after = server.controls.as_dict()
    assert after["version"] == before["version"] and after["strength"] == before["strength"]


def test_the_right_secret_works_and_the_scheme_is_case_insensitive(server):
    for scheme in ("Bearer", "bearer"):
        status, payload, _ = _request(server.port, "POST", "/strength",
                                      {"Authorization": f"{scheme} {server.token}",
                                       "Content-Type": "application/json"}, b'{"value": 0.4}')
        assert status == 200 and payload["state"]["strength"] == 0.4


def test_the_control_file_holds_the_secret_for_the_user_alone(server):
    path = paths.control_file()
    info = json.loads(path.read_text())
    assert info["token"] == server.token and info["port"] == server.port and len(server.token) >= 32
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # vcam ctl reads it by itself.
    assert ControlClient().status()["ok"] is True


def test_a_second_run_does_not_accept_the_first_runs_secret(styles):
    first = ControlServer(Controls(styles), port=0)
    first.start()
    old = first.token
    first.stop()
    second = ControlServer(Controls(styles), port=0)
    second.start()
    try:
        assert second.token != old
        status, _, _ = _request(second.port, "GET", "/status", {"Authorization": f"Bearer {old}"})
        assert status == 401
        assert json.loads(paths.control_file().read_text())["token"] == second.token
    finally:
        second.stop()


def test_the_client_says_what_to_do_without_a_secret(server, monkeypatch):
    paths.control_file().unlink()
    monkeypatch.delenv("VCAM_CONTROL_TOKEN", raising=False)
    with pytest.raises(VcamError) as err:
        ControlClient(port=server.port).status()
    assert "VCAM_CONTROL_TOKEN" in str(err.value.hint)
    monkeypatch.setenv("VCAM_CONTROL_TOKEN", server.token)          # what a script may use instead
    assert ControlClient(port=server.port).status()["ok"] is True


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_a_stale_world_readable_control_file_is_replaced_private(server, styles):
    path = paths.control_file()
    server.stop()
    path.write_text("{}")
    os.chmod(path, 0o644)
    again = ControlServer(Controls(styles), port=0)
    again.start()
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        again.stop()
