"""A software-emulated QEMU guest with v4l2loopback loaded, for testing vcam against a real virtual-camera device.

The host kernel cannot load modules, so the test boots Debian's stock kernel under TCG with a tiny busybox initramfs.
The initramfs loads virtio/9p, mounts the host root read-only, loads v4l2loopback (built here from Debian's
source package), chroots into the host root and runs a script from a read-write share that sits at the same path as
on the host. Kernel, module and initramfs are built once per machine and cached ($VCAM_E2E_CACHE or
~/.cache/vcam-e2e). Recipe and pitfalls: ../shared/notes/virtual-camera-vm.md.
"""

from __future__ import annotations

import fcntl
import gzip
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
GUEST_INIT = HERE / "guest_init.sh"

# What the host needs, by the Debian package that provides it.
HOST_TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "busybox": "busybox-static",
    "modprobe": "kmod",
    "depmod": "kmod",
    "cpio": "cpio",
    "ffmpeg": "ffmpeg",
    "gcc": "gcc",
    "make": "make",
    "dpkg-deb": "dpkg",
}
# Modules the initramfs loads before the share is mounted, and the video modules loaded with options after.
BASE_MODULES = ("virtio_pci", "9pnet_virtio", "9p")
VIDEO_MODULE = "v4l2loopback"


class Unavailable(Exception):
    """The guest cannot be built or booted here (not root, no apt, no package): the test skips with this reason."""


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initramfs: Path
    kernel_version: str
    v4l2loopback_version: str


@dataclass
class BootResult:
    exit_code: int | None      # the guest script's exit code; None when the guest never reported one
    seconds: float
    console: str               # serial console output (kernel log and init messages)


def cache_dir() -> Path:
    return Path(os.environ.get("VCAM_E2E_CACHE") or Path.home() / ".cache" / "vcam-e2e").expanduser()


def _run(cmd: list[str], cwd: Path | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise Unavailable(f"`{' '.join(cmd)}` failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-600:]}")
    return proc.stdout


def _bin(name: str) -> str | None:
    # apt installs some tools into sbin, which a non-login PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")


def ensure_host_tools() -> None:
    """Install what is missing with apt (root only); raise Unavailable when that cannot be done."""
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if _bin(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise Unavailable(f"needs root to apt-get install {' '.join(missing)}")
    if shutil.which("apt-get") is None:
        raise Unavailable(f"no apt-get to install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            raise Unavailable(f"`{' '.join(cmd)}` failed: {proc.stderr[-600:]}")
    still = sorted(t for t in HOST_TOOLS if _bin(t) is None)
    if still:
        raise Unavailable(f"still missing after apt-get install: {' '.join(still)}")


def _apt_field(args: list[str], pattern: str) -> str:
    out = _run(["apt-cache", *args])
    m = re.search(pattern, out, re.M)
    if not m:
        # apt's lists may not have been fetched yet on a fresh machine.
        if os.geteuid() == 0:
            _run(["apt-get", "update", "-q"], timeout=900)
            m = re.search(pattern, _run(["apt-cache", *args]), re.M)
    if not m:
        raise Unavailable(f"apt-cache {' '.join(args)}: nothing matching {pattern!r}")
    return m.group(1)


def guest_versions() -> tuple[str, str]:
    """(kernel version as in /lib/modules, v4l2loopback-dkms version) that apt would fetch now."""
    kv = _apt_field(["depends", "linux-image-amd64"], r"Depends: linux-image-(\S+-amd64)\s*$")
    lb = _apt_field(["show", "--no-all-versions", "v4l2loopback-dkms"], r"^Version: (\S+)")
    return kv, lb


def prepare(log=print) -> GuestImage:
    """Kernel and initramfs with v4l2loopback for it, from the cache or built now (~40-90 s cold)."""
    ensure_host_tools()
    kv, lb = guest_versions()
    key = cache_dir() / f"{kv}_v4l2loopback-{lb}"
    key.mkdir(parents=True, exist_ok=True)
    with open(key / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)      # two test runs on one machine must not build into the same folder
        return _prepare_locked(kv, lb, key, log)


def _prepare_locked(kv: str, lb: str, key: Path, log) -> GuestImage:
    image = GuestImage(key / "vmlinuz", key / "initramfs.cpio.gz", kv, lb)
    init_stamp = key / "init.sha"
    init_hash = _init_hash()
    if (key / "ready").is_file() and image.kernel.is_file() and image.initramfs.is_file():
        if init_stamp.is_file() and init_stamp.read_text() == init_hash:
            return image
        _pack_initramfs(key / "initramfs", image.initramfs)   # guest_init.sh changed: repack only
        init_stamp.write_text(init_hash)
        return image
    t0 = time.monotonic()
    work = key / "work"
    shutil.rmtree(work, ignore_errors=True)
    (work / "debs").mkdir(parents=True)
    root = work / "root"
    try:
        _download_and_unpack(kv, work / "debs", root)
        ko = _build_module(kv, lb, root, work)
        mod_dir = root / "lib" / "modules" / kv
        (mod_dir / "updates").mkdir(parents=True, exist_ok=True)
        shutil.copy2(ko, mod_dir / "updates" / ko.name)
        _run([_bin("depmod") or "depmod", "-b", str(root), kv])
        tree = key / "initramfs"
        shutil.rmtree(tree, ignore_errors=True)
        _initramfs_tree(kv, root, tree)
        _pack_initramfs(tree, image.initramfs)
        shutil.copy2(root / "boot" / f"vmlinuz-{kv}", image.kernel)
        init_stamp.write_text(init_hash)
        (key / "ready").write_text(f"built in {time.monotonic() - t0:.0f} s\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"e2e: built guest image {kv} + v4l2loopback {lb} in {time.monotonic() - t0:.0f} s -> {key}")
    return image


def _init_hash() -> str:
    import hashlib
    return hashlib.sha256(GUEST_INIT.read_bytes()).hexdigest()


def _download_and_unpack(kv: str, debs: Path, root: Path) -> None:
    deps = _run(["apt-cache", "depends", f"linux-headers-{kv}"])
    extra = re.findall(r"Depends: (linux-headers-\S+-common|linux-kbuild-\S+)\s*$", deps, re.M)
    if len(extra) < 2:
        raise Unavailable(f"cannot tell the common headers / kbuild packages of linux-headers-{kv}: {deps[-300:]}")
    pkgs = [f"linux-image-{kv}", f"linux-headers-{kv}", *extra, "v4l2loopback-dkms"]
    _run(["apt-get", "download", "-q", *pkgs], cwd=debs, timeout=900)   # downloads only; nothing is installed
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(root)])
        deb.unlink()


def _build_module(kv: str, lb: str, root: Path, work: Path) -> Path:
    headers = root / "usr" / "src" / f"linux-headers-{kv}"
    # The arch headers include the common ones by absolute /usr/src path: point them at the unpacked copy.
    for mk in [headers / "Makefile", *headers.glob("*/Makefile")]:
        if mk.is_file():
            text = mk.read_text()
            fixed = re.sub(r"(?<![\w/])/usr/src/", f"{root}/usr/src/", text)
            if fixed != text:
                mk.write_text(fixed)
    srcs = sorted((root / "usr" / "src").glob("v4l2loopback-*"))
    if not srcs:
        raise Unavailable("v4l2loopback-dkms has no source under /usr/src")
    src = work / "v4l2loopback"
    shutil.copytree(srcs[0], src)
    proc = subprocess.run(["make", "-C", str(headers), f"M={src}", "modules", "-j2"],
                          capture_output=True, text=True, timeout=600)
    ko = src / "v4l2loopback.ko"
    if proc.returncode != 0 or not ko.is_file():
        raise Unavailable(f"building v4l2loopback {lb} for {kv} failed: {(proc.stderr + proc.stdout)[-1200:]}")
    return ko


def _initramfs_tree(kv: str, root: Path, tree: Path) -> None:
    for d in ("bin", "dev", "proc", "sys", "mnt", "lib/modules"):
        (tree / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(_bin("busybox") or "/bin/busybox", tree / "bin" / "busybox")
    modprobe = _bin("modprobe") or "modprobe"

    def closure(names: tuple[str, ...]) -> list[str]:
        out = _run([modprobe, "-a", "-d", str(root), "-S", kv, "--show-depends", *names])   # -a: all names are modules
        return [line.split()[1] for line in out.splitlines() if line.startswith("insmod ")]

    lists = {"base.list": closure(BASE_MODULES), "video.list": closure((VIDEO_MODULE,))}
    seen: set[str] = set()
    for list_name, paths in lists.items():
        names = []
        for p in paths:
            src = Path(p)
            name = src.name.split(".ko")[0] + ".ko"
            dst = tree / "lib" / "modules" / name
            if src.name.endswith(".ko.xz"):
                import lzma
                dst.write_bytes(lzma.decompress(src.read_bytes()))
            elif src.name.endswith(".ko.zst"):
                _run(["zstd", "-d", "-q", "-f", str(src), "-o", str(dst)])
            else:
                shutil.copy2(src, dst)
            if name not in seen:
                names.append(name)
                seen.add(name)
        (tree / list_name).write_text("".join(n + "\n" for n in names))
    shutil.copy2(GUEST_INIT, tree / "init")
    (tree / "init").chmod(0o755)


def _pack_initramfs(tree: Path, out: Path) -> None:
    shutil.copy2(GUEST_INIT, tree / "init")
    (tree / "init").chmod(0o755)
    files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    proc = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=tree, input="\n".join(files).encode(),
                          capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise Unavailable(f"cpio failed: {proc.stderr.decode()[-300:]}")
    tmp = out.with_suffix(".tmp")
    with gzip.open(tmp, "wb", compresslevel=6) as f:
        f.write(proc.stdout)
    tmp.replace(out)


def boot(image: GuestImage, share: Path, module_options: str, timeout: float = 270, nice: int = 10) -> BootResult:
    """Boot once; the guest runs ``share/guest.sh`` chrooted into the host root, with ``share`` read-write at the
    same path, and powers off. ``share/exit_code`` holds the script's exit status."""
    share = share.resolve()
    if " " in str(share) or not (share / "guest.sh").is_file():
        raise ValueError(f"share {share} must exist, hold guest.sh and have no spaces in its path")
    (share / "v4l2loopback.opts").write_text(module_options + "\n")
    (share / "exit_code").unlink(missing_ok=True)
    cmd = [
        "nice", "-n", str(nice), _bin("qemu-system-x86_64") or "qemu-system-x86_64",
        # -enable-kvm aborts on these hosts (PVM, not VT-x) and -M microvm hangs in timer calibration.
        "-M", "pc", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", "512",
        "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-monitor", "none", "-no-reboot",
        "-kernel", str(image.kernel), "-initrd", str(image.initramfs),
        "-append", f"console=ttyS0 quiet loglevel=4 panic=-1 vcamshare={share}",
        "-fsdev", "local,id=fs0,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=fs0,mount_tag=hostroot",
        "-fsdev", f"local,id=fs1,path={share},security_model=none,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=fs1,mount_tag=share",
    ]
    t0 = time.monotonic()
    console = share / "console.log"
    with open(console, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    seconds = time.monotonic() - t0
    code_file = share / "exit_code"
    code = int(code_file.read_text().strip()) if code_file.is_file() and code_file.read_text().strip() else None
    return BootResult(code, seconds, console.read_text(errors="replace"))
