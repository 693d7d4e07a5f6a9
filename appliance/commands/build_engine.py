"""`appliance build-engine`: build (or reuse) the TensorRT engine for the configured model on this device.

The builder lives in the repository's `build/` folder, which shares its name with pypa's `build`
package; it is imported by its location (import_build_package), not by sys.path order, so the
installed `appliance` script finds it wherever it is started from.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from appliance.config import REPO_ROOT, Config
from appliance.errors import ModelError
from appliance.inference.manifest import load_manifest

BUILD_DIR = REPO_ROOT / "build"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser(
        "build-engine", parents=[common], help="build the TensorRT engine for the model on this device",
        description="Build a TensorRT engine from the model's ONNX (FP32, or Q/DQ INT8) into the engine cache, "
                    "check it against onnxruntime on real photos, and refuse it if it disagrees. A current "
                    "engine (same model, TensorRT, GPU, precision, input and batch profile) is reused.",
    )
    cmd.add_argument("--manifest", type=Path, help="model manifest (default: [model] manifest)")
    cmd.add_argument("--precision", choices=("auto", "int8", "fp16", "fp32"), default="auto",
                     help="engine precision; auto: int8 for a Q/DQ model, else fp16 (default: auto)")
    cmd.add_argument("--typing", choices=("auto", "strong", "weak"), default="auto",
                     help="network typing; auto: strongly typed for int8 on TensorRT >= 10 (default: auto)")
    cmd.add_argument("--force", action="store_true", help="rebuild even when the cached engine is current")
    cmd.add_argument("--tolerance", type=float,
                     help="largest accepted |engine - onnxruntime| score difference "
                          "(default: 0.03 int8, 0.005 fp16, 0.001 fp32)")
    cmd.add_argument("--max-disagreement", type=float, default=0.01,
                     help="largest accepted share of photos whose refer decision differs (default: 0.01)")
    cmd.add_argument("--images", type=Path,
                     help="folder of photos, or a text file listing them (e.g. the calibration list), to "
                          "compare on (default: the shipped sample photos)")
    cmd.add_argument("--images-root", type=Path,
                     help="folder a list's relative paths are taken from (default: the list's folder; for "
                          "models/calibration-images.txt, the development set folder)")
    cmd.add_argument("--max-images", type=int, default=32, help="photos to compare on, at most (default: 32)")
    cmd.add_argument("--engine-dir", type=Path, help="engine cache (default: [model] engine_dir under data_dir)")
    cmd.add_argument("--opt-batch", type=int, default=4, help="batch size TensorRT tunes for (default: 4)")
    cmd.add_argument("--max-batch", type=int, default=8, help="largest batch the engine accepts (default: 8)")
    cmd.add_argument("--workspace-mib", type=int, default=1024, help="builder workspace in MiB (default: 1024)")
    cmd.add_argument("--json", action="store_true", help="print the engine's record as JSON")
    cmd.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    engine = import_build_package("build.engine")
    plan = import_build_package("build.plan")
    if not 1 <= args.opt_batch <= args.max_batch or args.max_images < 1 or args.workspace_mib < 1:
        print("error: need 1 <= --opt-batch <= --max-batch, --max-images >= 1 and --workspace-mib >= 1",
              file=sys.stderr)
        return 2
    manifest = load_manifest(args.manifest if args.manifest is not None else config.manifest_path)
    options_fields: dict[str, Any] = {
        "precision": args.precision, "typing": args.typing, "force": args.force, "tolerance": args.tolerance,
        "max_disagreement": args.max_disagreement, "max_images": args.max_images,
        "profile": plan.BatchProfile(1, args.opt_batch, args.max_batch),
        "workspace_bytes": args.workspace_mib << 20,
    }
    if args.images is not None:
        options_fields["images"] = args.images
    if args.images_root is not None:
        options_fields["images_root"] = args.images_root
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:7.1f} s] {line}", file=sys.stderr, flush=True)

    result = engine.build_engine(manifest, engine_dir(config, args.engine_dir),
                                 engine.BuildOptions(**options_fields), progress=progress)
    if args.json:
        print(json.dumps({"engine": str(result.engine), "built": result.built, **result.record}, indent=2))
        return 0
    verb = "Built and verified" if result.built else "Reused the current"
    print(f"{verb} engine {result.engine}")
    parity = result.record.get("parity", {})
    if parity:
        print(f"Parity with onnxruntime on {parity['images']} photos: largest score difference "
              f"{parity['max_abs_diff']:.5f} (tolerance {parity['tolerance']}), "
              f"{parity['disagreements']} refer decisions differ")
    return 0


def engine_dir(config: Config, override: Path | None) -> Path:
    """The engine cache folder: the override, or [model] engine_dir (relative to data_dir)."""
    folder = override if override is not None else Path(config.model.engine_dir)
    return folder if folder.is_absolute() or override is not None else config.data_path / folder


def import_build_package(module: str) -> ModuleType:
    """Import `module` ("build" or "build.<name>") from this repository's build/ folder.

    Raises:
        ModelError: the folder is missing (an installed wheel has no build/), or another package
            called `build` is already imported in this process.
    """
    loaded = sys.modules.get("build")
    if loaded is None:
        spec = importlib.machinery.PathFinder.find_spec("build", [str(REPO_ROOT)])
        if spec is None or spec.loader is None or spec.origin is None or not _is_builder(BUILD_DIR):
            raise ModelError(
                f"The engine builder is missing ({BUILD_DIR}); run build-engine from a source checkout.",
                reason_code="engine_builder_missing",
            )
        loaded = importlib.util.module_from_spec(spec)
        sys.modules["build"] = loaded
        try:
            spec.loader.exec_module(loaded)
        except BaseException:
            del sys.modules["build"]
            raise
    elif not _is_ours(loaded):
        raise ModelError(
            f"Another package named 'build' ({getattr(loaded, '__file__', None) or loaded}) is already imported; "
            f"the engine builder in {BUILD_DIR} cannot be loaded beside it.",
            reason_code="engine_builder_missing",
        )
    return importlib.import_module(module)


def _is_ours(module: ModuleType) -> bool:
    origin = getattr(module, "__file__", None)
    return origin is not None and Path(origin).resolve().parent == BUILD_DIR.resolve() and _is_builder(BUILD_DIR)


def _is_builder(folder: Path) -> bool:
    # Installed from a wheel, REPO_ROOT is site-packages, where build/ may be pypa's package.
    return (folder / "__init__.py").is_file() and (folder / "engine.py").is_file()
