"""Inside the e2e guest (stdlib only): for each scenario of plan.json, start two real consumers of a virtual
camera (OpenCV's V4L2 capture and ffmpeg's v4l2 demuxer), run the writer command, stop the consumers and record
what happened in results.json. All frame decoding and judging happens on the host.

Usage: guest_run.py PLAN_JSON
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

_PROGRESS: Path | None = None


def note(msg: str) -> None:
    """A line in progress.log (on the share, so the host can follow a slow guest)."""
    if _PROGRESS is not None:
        with open(_PROGRESS, "a") as f:
            f.write(f"{time.monotonic():9.1f} {msg}\n")


def _sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"({exc})"


def _sysfs_format(device: str) -> str:
    try:
        return Path(f"/sys/class/video4linux/{Path(device).name}/format").read_text().strip()
    except OSError:
        return ""


class FfmpegReader:
    """Restart ffmpeg until it gets the device (capture appears only after the writer's first frame)."""

    def __init__(self, device: str, out_prefix: Path, log: Path) -> None:
        self.device, self.prefix, self.log = device, out_prefix, log
        self.stop = threading.Event()
        self.attempts = 0
        self.proc: subprocess.Popen | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with open(self.log, "ab") as log:
            while not self.stop.is_set():
                # Start before the device offers capture: ffmpeg takes seconds to start under emulation, and an
                # attempt that is already up when the writer's first frame lands gets in at once.
                self.attempts += 1
                note(f"ffmpeg attempt {self.attempts} on {self.device} (format {_sysfs_format(self.device)!r})")
                out = f"{self.prefix}.{self.attempts:02d}.raw"
                # -fps_mode passthrough: without it ffmpeg duplicates/drops frames to hold a constant rate.
                self.proc = subprocess.Popen(
                    ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "v4l2", "-i", self.device,
                     "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "bgr24", "-y", out],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
                self.proc.wait()
                if not self.stop.is_set():
                    time.sleep(0.3)

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)   # ffmpeg flushes and exits on SIGINT
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.thread.join(timeout=15)


def run_writer(sc: dict, share: Path) -> dict:
    """Run the writer with its output in files; past its time limit, ask it to stop (SIGINT), then make Python dump
    every thread's stack (SIGABRT with faulthandler on), so a hang shows where it hangs."""
    name = sc["name"]
    out_path, err_path = share / f"{name}.writer.out", share / f"{name}.writer.err"
    t0 = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(sc["writer"], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env={**os.environ, "PYTHONFAULTHANDLER": "1", **sc.get("env", {})})
        res: dict = {}
        try:
            res["writer_rc"] = proc.wait(timeout=sc.get("timeout", 150))
        except subprocess.TimeoutExpired:
            res.update(writer_rc=None, writer_timeout=True)
            for sig, grace in ((signal.SIGINT, 15), (signal.SIGABRT, 10), (signal.SIGKILL, 10)):
                proc.send_signal(sig)
                try:
                    proc.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
    res["writer_wall_s"] = round(time.monotonic() - t0, 2)
    res["writer_stdout"] = out_path.read_text(errors="replace")[-4000:]
    res["writer_stderr"] = err_path.read_text(errors="replace")[-6000:]
    return res


class Readers:
    """Both consumers of one scenario's device: OpenCV (a Python process) and ffmpeg (restarted until it gets in)."""

    def __init__(self, sc: dict, share: Path, python: str, reader_script: str) -> None:
        name, device = sc["name"], sc["device"]
        self.share = share
        self.t0 = time.monotonic()
        self.ready = share / f"{name}.cv2.ready"
        self._log = open(share / f"{name}.cv2.log", "wb")
        self.cv2 = subprocess.Popen([python, reader_script, device, str(share / f"{name}.cv2.raw"), str(self.ready)],
                                    stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                    env={**os.environ, "OPENCV_LOG_LEVEL": "ERROR"})  # no warning per poll
        self.ffmpeg = FfmpegReader(device, share / f"{name}.ffmpeg", share / f"{name}.ffmpeg.log")

    def start_ffmpeg(self) -> None:
        if not self.ffmpeg.thread.is_alive():
            self.ffmpeg.start()

    def wait_ready(self, limit_s: float) -> float:
        deadline = time.monotonic() + limit_s
        while not self.ready.exists() and self.cv2.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        return round(time.monotonic() - self.t0, 2)

    def stop(self) -> int:
        if self.ffmpeg.thread.is_alive():
            self.ffmpeg.finish()
        self.cv2.terminate()
        try:
            self.cv2.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.cv2.kill()
        self._log.close()
        return self.ffmpeg.attempts


def run_scenario(sc: dict, readers: Readers) -> dict:
    device = sc["device"]
    res: dict = {"name": sc["name"], "device": device}
    t0 = time.monotonic()
    if sc.get("wait_for_readers", True):
        res["readers_ready_s"] = readers.wait_ready(sc.get("reader_timeout", 120))
        note(f"{sc['name']}: readers ready after {res['readers_ready_s']} s")
    res["format_before"] = _sysfs_format(device)
    readers.start_ffmpeg()
    note(f"{sc['name']}: writer starts")
    res.update(run_writer(sc, readers.share))
    note(f"{sc['name']}: writer exited {res.get('writer_rc')} after {res['writer_wall_s']} s")
    res["writer_s"] = round(time.monotonic() - t0, 2)
    res["format_after"] = _sysfs_format(device)
    # Let the consumers take what is still queued, then stop them.
    time.sleep(sc.get("drain_s", 2.0) if res.get("writer_rc") == 0 else 0.2)
    res["ffmpeg_attempts"] = readers.stop()
    res["seconds"] = round(time.monotonic() - t0, 2)
    return res


def main() -> int:
    plan_path = Path(sys.argv[1])
    plan = json.loads(plan_path.read_text())
    share = plan_path.parent
    global _PROGRESS
    _PROGRESS = share / "progress.log"
    note("guest_run started")
    # Load ffmpeg's many shared libraries once now, so that the page cache makes its later starts quicker.
    subprocess.Popen(["ffmpeg", "-hide_banner", "-version"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    here = Path(__file__).resolve().parent
    out: dict = {"kernel": _sh(["uname", "-r"]), "scenarios": [],
                 "module": {p.name: p.read_text().strip() for p in Path("/sys/module/v4l2loopback/parameters").glob("*")
                            if p.is_file()}}
    ver = Path("/sys/module/v4l2loopback/version")
    out["module_version"] = ver.read_text().strip() if ver.is_file() else None
    t0 = time.monotonic()
    scenarios = plan["scenarios"]
    reader_script = str(here / "guest_reader.py")
    readers: dict[int, Readers] = {}

    def start_readers(k: int) -> None:
        if k < len(scenarios) and k not in readers:
            readers[k] = Readers(scenarios[k], share, plan["python"], reader_script)

    # A device's first scenario gets its readers now, so their slow start-up (cv2 under emulation) overlaps;
    # a device used again gets new readers only once the scenario before on it has finished.
    first_use: dict[str, int] = {}
    for k, sc in enumerate(scenarios):
        first_use.setdefault(sc["device"], k)
    for k in sorted(first_use.values()):
        start_readers(k)
    for k, sc in enumerate(scenarios):
        start_readers(k)
        out["scenarios"].append(run_scenario(sc, readers[k]))
        later = [j for j in range(k + 1, len(scenarios)) if scenarios[j]["device"] == sc["device"]]
        if later:
            start_readers(later[0])
        (share / "results.json").write_text(json.dumps(out, indent=2))
    out["seconds"] = round(time.monotonic() - t0, 2)
    (share / "results.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
