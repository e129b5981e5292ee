"""`vcam train --add-style` end to end: how long a new painting takes, and how close it gets to the teacher.

    python benchmarks/add_style.py --json out/add_style.json [--painting PATH] [--name NAME] [--base models]
        [--minutes 5] [--network auto] [--internal-height H] [--compare-network plain --compare-internal-height H]

Runs the real command (a subprocess, so start-up, the teacher's outputs and the export count), then scores the new
style through the real pipeline at 1280x720 on the held-out photos against the teacher with the same painting
(benchmarks/quality.py --no-clips), on the network `vcam run` would take on this machine (--network auto; the new
folder has every network of the base, each with its own new code), optionally beside another of its networks in the
same run (--compare-network: the "previous" row). The default painting is Seurat's Grande Jatte from
styles_heldout/: no training of the shipped model saw it (the added style's weights stay in runs/, they are not
shipped).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--painting", type=Path, default=DATA / "styles_heldout" / "seurat_grande_jatte.jpg")
    ap.add_argument("--name", default="grande_jatte")
    ap.add_argument("--base", type=Path, default=ROOT / "models")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "add_style")
    ap.add_argument("--minutes", type=float, default=5.0, help="the whole budget given to --add-style")
    ap.add_argument("--network", default="auto", help="which of the new folder's networks to score (auto: as vcam run)")
    ap.add_argument("--internal-height", type=int, default=0, help="its network height (0: the model's start)")
    ap.add_argument("--compare-network", default="", help="score another of the folder's networks beside it")
    ap.add_argument("--compare-internal-height", type=int, default=0)
    args = ap.parse_args(argv)
    if not args.painting.is_file():
        print(f"error: no painting at {args.painting}", file=sys.stderr)
        return 2
    out = args.out / args.name
    if out.exists():
        import shutil

        shutil.rmtree(out)   # a fresh run: resuming would hide the cost being measured
    cmd = [sys.executable, "-m", "vcam.cli", "train", "--add-style", str(args.painting), "--name", args.name,
           "--model-dir", str(args.base), "--out", str(out), "--minutes", str(args.minutes)]
    print("running:", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if rc != 0:
        print(f"error: --add-style exited with {rc}", file=sys.stderr)
        return rc
    print(f"--add-style took {seconds / 60:.2f} min (budget {args.minutes} min)", flush=True)
    import quality

    from vcam.config import RunConfig
    from vcam.engines.network_choice import choose_network
    from vcam.styles import load_manifest

    network = args.network
    if network == "auto":
        network = choose_network(RunConfig(network="auto", model_dir=out), load_manifest(out), say=print).network
    qjson = args.json.with_name(args.json.stem + "_quality.json")
    compare = (["--previous", str(out), "--previous-network", args.compare_network,
                "--previous-internal-height", str(args.compare_internal_height)] if args.compare_network
               else ["--no-previous"])
    rc = quality.main(["--json", str(qjson), "--model", str(out), "--styles", args.name, *compare,
                       "--network", network, "--internal-height", str(args.internal_height),
                       "--no-clips", "--style-image", f"{args.name}={args.painting}"])
    if rc != 0:
        return rc
    q = json.loads(qjson.read_text(encoding="utf-8"))
    per = q["summary"]["style_distance_per_style"][args.name]
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    result = {"painting": str(args.painting), "name": args.name, "budget_minutes": args.minutes,
              "wall_minutes": round(seconds / 60, 2), "iterations": man["training"]["iterations"],
              "style_distance": {"vcam": per["vcam"], "teacher": per["teacher"], "input": per["input"]},
              "vcam_over_teacher": per["vcam_over_teacher"], "network": network,
              "internal_height": args.internal_height or None, "networks": list(man.get("variants", {})),
              "detail": q["summary"]["detail"], "content_distance": q["summary"]["content_distance"]}
    if args.compare_network:
        result["compare"] = {"network": args.compare_network, "internal_height": args.compare_internal_height or None,
                             "style_distance": per["previous"], "over_teacher": per["previous"] / per["teacher"]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{args.name}: {result['wall_minutes']} min, style distance vcam ({network}) {per['vcam']:.3f} vs teacher "
          f"{per['teacher']:.3f} ({per['vcam_over_teacher']:.2f}x), input {per['input']:.3f}; wrote {args.json}")
    if args.compare_network:
        c = result["compare"]
        print(f"  {args.compare_network}: {c['style_distance']:.3f} ({c['over_teacher']:.2f}x the teacher's)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
