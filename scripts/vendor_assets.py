"""Vendor pinned front-end assets from the npm registry: what the app serves into app/static/vendor/, what only the
browser tests use into tests/vendor/ (the app never serves it). Each folder has a manifest.json of versions and sha256.
Run with no arguments to download them and rewrite the manifests, or with --check to verify them."""

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "app" / "static" / "vendor"
TEST_VENDOR_DIR = ROOT / "tests" / "vendor"
MANIFEST_NAME = "manifest.json"

# Exact versions only: bumping one is a deliberate, reviewed edit followed by a re-run.
# Paths are relative to the package root inside the npm tarball.
PACKAGES = {
    "socket.io-client": {"version": "4.8.4", "files": ["dist/socket.io.min.js"]},
    "chart.js": {"version": "4.6.1", "files": ["dist/chart.umd.js"]},
    "swagger-ui-dist": {"version": "5.35.0", "files": ["swagger-ui-bundle.js", "swagger-ui.css"]},
}
#: Only the browser tests use these: they hand them to the page themselves.
TEST_PACKAGES = {
    "axe-core": {"version": "4.14.1", "files": ["axe.min.js"]},
}
#: Each folder and the packages it holds.
FOLDERS = {VENDOR_DIR: PACKAGES, TEST_VENDOR_DIR: TEST_PACKAGES}

# Packages spell their licence file differently (chart.js ships LICENSE.md).
LICENSE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt")


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def npm_pack(name: str, version: str, dest: Path) -> tuple[Path, str]:
    """Download one tarball with npm and return its path and registry integrity string."""
    result = subprocess.run(
        # Registry tarballs never need their lifecycle scripts, so refuse them outright.
        ["npm", "pack", f"{name}@{version}", "--pack-destination", str(dest), "--json", "--ignore-scripts"],
        cwd=dest,  # keep any package.json/.npmrc in the repo from influencing the fetch
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    (info,) = json.loads(result.stdout)
    if info["version"] != version:
        raise RuntimeError(f"npm packed {name}@{info['version']}, expected {version}")
    return dest / info["filename"], info["integrity"]


def extract(tarball: Path, wanted: list[str], out_dir: Path) -> list[str]:
    """Copy the wanted files (and a licence, if any) flat into out_dir; return the names written."""
    out_dir.mkdir(parents=True)
    written = []
    with tarfile.open(tarball, "r:gz") as tar:
        # npm tarballs nest everything under one top-level folder (normally "package/").
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if m.isfile() and "/" in m.name}
        license_name = next((n for n in LICENSE_NAMES if n in members), None)
        targets = [(path, Path(path).name) for path in wanted]
        if license_name:
            targets.append((license_name, "LICENSE"))
        for path, out_name in targets:
            if path not in members:
                raise RuntimeError(f"{tarball.name} has no {path}")
            # Read bytes and write them under a name we chose, so archive paths can't escape out_dir.
            (out_dir / out_name).write_bytes(tar.extractfile(members[path]).read())
            written.append(out_name)
    return written


def vendor(vendor_dir: Path = VENDOR_DIR) -> dict:
    packages = FOLDERS[vendor_dir]
    manifest = {"packages": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        staging = tmp / "vendor"
        # Fetch everything before touching vendor_dir so a failed download leaves it intact.
        for name, pin in packages.items():
            print(f"fetching {name}@{pin['version']}")
            tarball, integrity = npm_pack(name, pin["version"], tmp)
            names = extract(tarball, pin["files"], staging / name)
            manifest["packages"][name] = {
                "version": pin["version"],
                "integrity": integrity,
                "files": {f"{name}/{n}": sha256(staging / name / n) for n in names},
            }
        vendor_dir.mkdir(parents=True, exist_ok=True)
        for name in packages:
            # Replace whole package folders so files dropped by a version bump don't linger.
            shutil.rmtree(vendor_dir / name, ignore_errors=True)
            shutil.copytree(staging / name, vendor_dir / name)
    (vendor_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def check(vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """Return a list of problems with the vendored files; empty means all is well."""
    manifest_path = vendor_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        return [f"missing: {manifest_path}"]
    packages = json.loads(manifest_path.read_text())["packages"]
    pins = FOLDERS.get(vendor_dir, PACKAGES)
    problems = []
    # A pin bumped without re-running the script would otherwise pass the hash check.
    for name in sorted(pins.keys() | packages.keys()):
        pinned = pins.get(name, {}).get("version")
        recorded = packages.get(name, {}).get("version")
        if pinned != recorded:
            problems.append(f"stale manifest: {name} pinned at {pinned}, manifest has {recorded}")
    for pkg in packages.values():
        for rel_path, expected in pkg["files"].items():
            path = vendor_dir / rel_path
            if not path.is_file():
                problems.append(f"missing: {rel_path}")
            elif (actual := sha256(path)) != expected:
                problems.append(f"mismatch: {rel_path} (manifest {expected}, on disk {actual})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="verify files on disk against manifest.json")
    args = parser.parse_args(argv)
    failed = False
    for folder in FOLDERS:
        if not args.check:
            vendor(folder)
        problems = check(folder)
        if problems:
            failed = True
            print(f"vendored assets in {folder} do not match {MANIFEST_NAME}:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
    if failed:
        print("re-run scripts/vendor_assets.py to restore them", file=sys.stderr)
        return 1
    print(f"vendored assets match their {MANIFEST_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
