"""Network variants: a model folder holding a plain network and a detail-head one, added with `vcam export --into
--as`, read back as manifests of their own, and chosen per run (auto: by the engine, the CPU's precision and a live
run's CPU budget)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from tiny_model import DETAIL, TINY, write_tiny_detail_run, write_tiny_model  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from vcam.cli import app  # noqa: E402
from vcam.config import RunConfig, Size  # noqa: E402
from vcam.engines.network_choice import choose_network, condition_holds, run_conditions  # noqa: E402
from vcam.errors import ModelError, VcamError  # noqa: E402
from vcam.model.export import add_variant  # noqa: E402
from vcam.runner import run as run_pipeline  # noqa: E402
from vcam.styles import load_manifest, verify_onnx  # noqa: E402
from vcam.styles.user import UserStyles  # noqa: E402

STYLES = ("ink", "fire", "sea")
F32 = {"cpu_precision": "f32"}


def _detail_run(directory: Path, styles: tuple[str, ...] = STYLES) -> Path:
    return write_tiny_detail_run(directory, styles)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """(a plain model folder with a person entry, the same folder with the detail net added as a variant)."""
    base = write_tiny_model(tmp_path_factory.mktemp("plain"), STYLES, person_model="person.onnx")
    run = _detail_run(tmp_path_factory.mktemp("detail_run"))
    both = tmp_path_factory.mktemp("both")
    shutil.copytree(base, both, dirs_exist_ok=True)
    add_variant(run, both, "detail", F32)
    return base, both


def test_a_variant_reads_back_as_its_own_network_in_the_same_folder(folders) -> None:
    base_dir, both = folders
    man = load_manifest(both)
    assert man.networks == ("plain", "detail") and man.network == "plain"
    assert man.size_multiple == TINY.stride and man.onnx == "vcam.onnx"
    det = man.variant("detail")
    assert det.network == "detail" and det.directory == man.directory
    assert det.onnx == "vcam_detail.onnx" and det.size_multiple == DETAIL.stride == 16
    assert det.extra["ladder_720"] == list(DETAIL.ladder_720) and det.use_when() == [F32]
    assert man.use_when() == []
    assert det.styles == man.styles and det.codes().shape == man.codes().shape
    assert not np.allclose(det.codes(), man.codes())          # its own codes file, not the plain net's
    assert det.extra["person_model"] == "person.onnx"          # shared entries come from the folder
    assert verify_onnx(det) == both / "vcam_detail.onnx"
    # Stored styles are tied to the plain net's code space, which the variant shares.
    assert det.code_space == man.code_space == man.onnx_sha256 != det.onnx_sha256
    # The plain folder is untouched.
    assert load_manifest(base_dir).networks == ("plain",)


def test_auto_takes_the_variant_only_where_its_conditions_hold(folders) -> None:
    _, both = folders
    man = load_manifest(both)
    said: list[str] = []
    cfg = RunConfig(model_dir=both)
    assert choose_network(cfg, man, said.append, lambda c: {"engine": "cpu", "cpu_precision": "f32"}).network \
        == "detail"
    assert said and "detail" in said[0] and "--network plain" in said[0]
    for here in ({"engine": "cpu", "cpu_precision": "bf16"}, {"engine": "tensorrt"}, {"engine": "passthrough"}):
        assert choose_network(cfg, man, said.append, lambda c, h=here: h).network == "plain"
    # Asked by name, the condition does not matter.
    never = pytest.fail
    assert choose_network(RunConfig(network="detail"), man, conditions=never).network == "detail"
    assert choose_network(RunConfig(network="plain"), man, conditions=never).network == "plain"
    # A folder with one network is never probed.
    assert choose_network(cfg, load_manifest(folders[0]), conditions=never).network == "plain"


def test_an_unknown_network_is_refused_with_the_real_ones(folders) -> None:
    man = load_manifest(folders[1])
    with pytest.raises(VcamError) as err:
        choose_network(RunConfig(network="fancy"), man)
    assert "fancy" in err.value.message and "plain, detail" in err.value.hint


def test_run_conditions_follow_the_engine_the_run_will_use(monkeypatch) -> None:
    assert run_conditions(RunConfig(engine="passthrough")) == {"engine": "passthrough"}
    assert run_conditions(RunConfig(engine="auto"), gpu=lambda c: True) == {"engine": "tensorrt"}
    cpu = run_conditions(RunConfig(engine="cpu", cpu_precision="bf16", realtime=False), gpu=lambda c: False)
    assert cpu == {"engine": "cpu", "cpu_precision": "bf16"}
    assert run_conditions(RunConfig(engine="cpu", cpu_precision="f32"))["cpu_precision"] == "f32"
    # A live run's CPU budget, in cores, is a condition too; runs over every frame or without a limit have none.
    monkeypatch.setattr("vcam.engines.cpu.usable_cores", lambda: 2)
    live = RunConfig(engine="cpu", cpu_precision="bf16", realtime=True, cpu_share=0.5)
    assert run_conditions(live, gpu=lambda c: False)["cpu_budget"] == 1.0
    for no_budget in (RunConfig(engine="cpu", realtime=True, cpu_share=1.0),
                      RunConfig(engine="cpu", realtime=True, cpu_share=None),
                      RunConfig(engine="cpu", realtime=False, cpu_share=0.5)):
        assert "cpu_budget" not in run_conditions(no_budget, gpu=lambda c: False)


def test_a_condition_is_equal_or_a_numeric_bound() -> None:
    assert condition_holds("f32", "f32") and not condition_holds("f32", "bf16")
    assert condition_holds("<=1.25", 1.0) and condition_holds("<=1.25", 1.25) and not condition_holds("<=1.25", 1.5)
    assert condition_holds(">=2", 3) and not condition_holds(">=2", 1.0)
    # A missing value, a value that is not a number, or a bound that is not one never holds.
    for want, have in (("<=1.25", None), ("<=1.25", "1.0"), ("<=1.25", True), ("<=x", 1.0), ("f32", None)):
        assert not condition_holds(want, have)


def test_auto_takes_a_variant_when_any_of_its_alternatives_holds(folders, tmp_path) -> None:
    """The shipped folder's rule: the detail net on every f32 CPU, and on a bf16 one when a live run may use at most
    1.25 cores (there the plain net holds only 640x360); the plain net elsewhere."""
    target = tmp_path / "both"
    shutil.copytree(folders[1], target)
    run = _detail_run(tmp_path / "run")
    add_variant(run, target, "detail", [F32, {"cpu_precision": "bf16", "cpu_budget": "<=1.25"}])
    man = load_manifest(target)
    assert isinstance(json.loads((target / "manifest.json").read_text())["variants"]["detail"]["use_when"], list)
    said: list[str] = []
    cases = [({"engine": "cpu", "cpu_precision": "f32"}, "detail"),
             ({"engine": "cpu", "cpu_precision": "f32", "cpu_budget": 4.0}, "detail"),
             ({"engine": "cpu", "cpu_precision": "bf16", "cpu_budget": 1.0}, "detail"),
             ({"engine": "cpu", "cpu_precision": "bf16", "cpu_budget": 1.5}, "plain"),
             ({"engine": "cpu", "cpu_precision": "bf16"}, "plain"),
             ({"engine": "tensorrt"}, "plain")]
    for here, expected in cases:
        got = choose_network(RunConfig(model_dir=target), man, said.append, lambda c, h=here: h).network
        assert got == expected, here
    assert any("cpu_budget 1.0 (<=1.25)" in m for m in said)


def test_a_malformed_use_when_is_named(folders, tmp_path) -> None:
    shutil.copytree(folders[1], tmp_path, dirs_exist_ok=True)
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["variants"]["detail"]["use_when"] = ["cpu_precision=f32"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="malformed use_when"):
        load_manifest(tmp_path).variant("detail").use_when()


def test_a_variant_with_other_styles_or_a_corrupt_file_is_named(folders, tmp_path) -> None:
    shutil.copytree(folders[1], tmp_path, dirs_exist_ok=True)
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["variants"]["detail"]["styles"] = ["ink", "fire"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="other styles"):
        load_manifest(tmp_path).variant("detail")
    data["variants"]["detail"]["styles"] = list(STYLES)
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    (tmp_path / "vcam_detail.onnx").write_bytes(b"truncated")
    with pytest.raises(ModelError, match="corrupt or truncated"):
        verify_onnx(load_manifest(tmp_path).variant("detail"))
    # The plain network still runs from the same folder.
    assert verify_onnx(load_manifest(tmp_path)) == tmp_path / "vcam.onnx"


def test_add_variant_refuses_other_styles_and_reserved_names(folders, tmp_path) -> None:
    other = _detail_run(tmp_path / "other", ("a", "b", "c"))
    target = tmp_path / "target"
    shutil.copytree(folders[0], target)
    with pytest.raises(ModelError, match="styles"):
        add_variant(other, target, "detail")
    for bad in ("plain", "auto", "no spaces"):
        with pytest.raises(ModelError, match="cannot name"):
            add_variant(folders[1], target, bad)
    assert load_manifest(target).networks == ("plain",)


@pytest.mark.parametrize("network", ["plain", "detail"])
def test_a_run_uses_the_network_asked_for(folders, network, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VCAM_CONFIG_DIR", str(tmp_path / "cfg"))
    # A style stored for the plain net (its code space) is offered on both.
    UserStyles().add("mine", np.full(TINY.code_dim, 0.1, np.float32), load_manifest(folders[1]).code_space,
                     "mine.png", b"", builtin=STYLES)
    stats = tmp_path / "stats.json"
    cfg = RunConfig(input="pattern", outputs=("null",), style="mine", size=Size(320, 180), frames=6, realtime=False,
                    engine="cpu", model_dir=folders[1], network=network, stats_json=stats, quiet=True,
                    transition_s=0.0)
    summary = run_pipeline(cfg, say=lambda m: None)
    assert summary["frames"] == 6
    info = json.loads(stats.read_text())["engine"]
    assert info["network"] == network and info["model"] == ("vcam.onnx" if network == "plain" else
                                                             "vcam_detail.onnx")
    assert int(info["network_size"].split("x")[1]) % (16 if network == "detail" else TINY.stride) == 0


def test_export_cli_adds_a_variant_and_checks_its_options(folders, tmp_path) -> None:
    run = _detail_run(tmp_path / "run")
    target = tmp_path / "target"
    shutil.copytree(folders[0], target)
    cli = CliRunner()
    r = cli.invoke(app, ["export", str(run), "--into", str(target)])
    assert r.exit_code == 1 and "--into and --as go together" in r.output
    r = cli.invoke(app, ["export", str(run), "--into", str(target), "--as", "detail", "--use-when", "f32"])
    assert r.exit_code == 1 and "KEY=VALUE" in r.output
    assert load_manifest(target).networks == ("plain",)
    r = cli.invoke(app, ["export", str(run), "--into", str(target), "--as", "detail", "--use-when",
                         "cpu_precision=f32"])
    assert r.exit_code == 0, r.output
    assert load_manifest(target).variant("detail").use_when() == [F32]
    r = cli.invoke(app, ["export", str(run), "--into", str(target), "--as", "detail", "--use-when",
                         "cpu_precision=f32;cpu_precision=bf16,cpu_budget=<=1.25"])
    assert r.exit_code == 0, r.output
    assert load_manifest(target).variant("detail").use_when() == [
        F32, {"cpu_precision": "bf16", "cpu_budget": "<=1.25"}]
    r = cli.invoke(app, ["export", str(run), "--into", str(target), "--as", "detail", "--use-when",
                         "cpu_precision=f32;cpu_budget="])
    assert r.exit_code == 1 and "KEY=VALUE" in r.output


def test_the_shipped_folder_takes_the_detail_net_where_the_readme_says() -> None:
    """models/: detail on f32 CPUs and on a 2-core bf16 laptop's live run (budget 1 core at --cpu-share 0.5); plain
    on bf16 without a budget (files, demos, --cpu-share 1) and on TensorRT."""
    models = Path(__file__).resolve().parents[2] / "models"
    man = load_manifest(models)
    if "detail" not in man.networks:
        pytest.skip("this checkout's models/ has no detail network")

    def pick(here: dict) -> str:
        return choose_network(RunConfig(model_dir=models), man, lambda m: None, lambda c: here).network

    assert pick({"engine": "cpu", "cpu_precision": "f32"}) == "detail"
    assert pick({"engine": "cpu", "cpu_precision": "bf16", "cpu_budget": 1.0}) == "detail"
    assert pick({"engine": "cpu", "cpu_precision": "bf16"}) == "plain"
    assert pick({"engine": "cpu", "cpu_precision": "bf16", "cpu_budget": 2.0}) == "plain"
    assert pick({"engine": "tensorrt"}) == "plain"
