"""`appliance bundle`: make release keys, build and sign update bundles, check a bundle against a keyring.

    appliance bundle keygen release.pem            # writes release.pem (keep offline) and release.pub
    appliance bundle build --key release.pem --version 1.4.0 --compatible 'jetson-orin-nano*/jetpack-6*' \
        [--min-version 1.2.0] [--model models/dr-reference.toml ...] [--kind full|model]
        [--app wheel|tree|DIR] [--out DIR]
    appliance bundle verify BUNDLE [--keyring DIR]  # signature and every member's hash, nothing installed

The builder lives in the repository's build/ folder (build/bundle.py): run `bundle build` from a checkout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance import __version__
from appliance.config import Config


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser("bundle", parents=[common], help="build, sign and check update bundles",
                              description="Release keys and signed update bundles (see the README's Updates).")
    actions = cmd.add_subparsers(dest="bundle_action", required=True, metavar="ACTION")
    keygen = actions.add_parser("keygen", parents=[common], help="make an Ed25519 release key pair")
    keygen.add_argument("key", type=Path, help="the private key file to write (its .pub is written beside it)")
    build = actions.add_parser("build", parents=[common], help="build and sign a bundle from this checkout")
    build.add_argument("--key", type=Path, required=True, help="the Ed25519 private key (PEM) to sign with")
    build.add_argument("--version", default=__version__, help=f"the bundle's version (default: {__version__})")
    build.add_argument("--min-version", default="0", help="oldest installed firmware it may replace (default: any)")
    build.add_argument("--compatible", action="append", required=True, metavar="PATTERN",
                       help="hardware it is for, '<board>/jetpack-<n>' with * wildcards (repeat for more)")
    build.add_argument("--model", action="append", type=Path, metavar="MANIFEST",
                       help="model manifest to ship with its files (repeat; default: [model] manifest); the "
                            "first one's outcome on the health photos is signed into the bundle")
    build.add_argument("--kind", choices=("full", "model"), default="full",
                       help="full: firmware and models; model: models alone (default: full)")
    build.add_argument("--app", default="wheel",
                       help="the firmware: wheel (built with pip), tree (this checkout's appliance/) or a folder "
                            "holding an appliance/ package (default: wheel)")
    build.add_argument("--notes", default="", help="release notes kept in the manifest")
    build.add_argument("--out", type=Path, default=Path("dist"), help="folder to write the bundle to (default: dist)")
    verify = actions.add_parser("verify", parents=[common], help="check a bundle's signature and every member")
    verify.add_argument("bundle", type=Path)
    verify.add_argument("--keyring", type=Path, help="folder of trusted *.pub keys (default: [update] keyring_dir)")
    cmd.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    if args.bundle_action == "keygen":
        from appliance.fleet.keys import generate_key, public_key_path

        key_id = generate_key(args.key)
        print(f"Wrote {args.key} (private: keep it offline) and {public_key_path(args.key)} (key id {key_id}); "
              f"copy the .pub into each box's [update] keyring_dir.")
        return 0
    if args.bundle_action == "verify":
        return _verify(config, args)
    from appliance.commands.build_engine import import_build_package
    from appliance.config import REPO_ROOT

    bundle = import_build_package("build.bundle")
    models = tuple(args.model or [config.manifest_path])
    request = bundle.BundleRequest(key=args.key, version=args.version, min_version=args.min_version,
                                   compatible=tuple(args.compatible), models=models, out=args.out, kind=args.kind,
                                   app=args.app, repo=REPO_ROOT, notes=args.notes)
    try:
        path = bundle.build_bundle(request, progress=lambda line: print(line, file=sys.stderr, flush=True))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


def _verify(config: Config, args: argparse.Namespace) -> int:
    from appliance.fleet.bundle import extract_members, read_signed_manifest
    from appliance.fleet.keys import Keyring

    folder = args.keyring or Path(config.update.keyring_dir)
    revoked = Path(config.update.revoked_keys) if config.update.revoked_keys and not args.keyring else None
    signed = read_signed_manifest(args.bundle, Keyring.load(folder, revoked))
    extract_members(args.bundle, signed, None)
    manifest = signed.manifest
    print(f"{args.bundle}: {manifest.kind} {manifest.version} (replaces {manifest.min_version} or later), for "
          f"{', '.join(manifest.compatible)}; signed by key {signed.key_id}; {len(manifest.members)} members verified")
    return 0
