"""Vendor the browser viewer's third-party JavaScript into static/vendor/.

    python3 relay/browser/update_vendor.py            # the versions pinned below
    python3 relay/browser/update_vendor.py --check    # only say whether vendor/ matches

For each package it runs `npm pack NAME@VERSION` in a temporary folder (the npm registry,
nothing else), unpacks it, copies the ES modules that the entry points need (followed
import by import, nothing else), its LICENSE and its package.json, and rewrites the bare
imports between the packages (`from '@noble/hashes/sha2.js'`) into relative paths, so the
files load as plain ES modules in a browser (no bundler, no import map: the page's
Content-Security-Policy allows no inline script) and in node alike. It writes
vendor/VERSIONS.json with each package's version, npm integrity and the files taken.
See relay/browser/README-vendor.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# name -> (version, entry modules). Versions: ESM that runs on node >= 20.19 and Chromium.
PACKAGES = {
    "@noble/hashes": ("2.4.0", ["sha2.js", "hmac.js", "hkdf.js", "utils.js"]),
    "@noble/curves": ("2.4.0", ["ed25519.js"]),
}
VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
_IMPORT = re.compile(r"""(\bfrom\s*|\bimport\s*\(?\s*)(['"])([^'"]+)\2""")


def folder_of(package: str) -> str:
    """`@noble/hashes` -> `noble-hashes`."""
    return package.lstrip("@").replace("/", "-")


def _npm_pack(package: str, version: str, into: Path) -> tuple[Path, str]:
    out = subprocess.run(
        ["npm", "pack", "--json", f"{package}@{version}"],
        cwd=into,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    info = json.loads(out)[0]
    archive = into / info["filename"]
    target = into / folder_of(package)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target / "package", info["integrity"]


def _rewrite(source: str, own_path: str, own_package: str) -> tuple[str, list[tuple[str, str]]]:
    """Source with bare imports of vendored packages made relative; the modules it imports."""
    needed: list[tuple[str, str]] = []

    def replace(match: re.Match[str]) -> str:
        prefix, quote, spec = match.groups()
        if spec.startswith("."):
            target = posixpath.join(posixpath.dirname(own_path), spec)
            needed.append((own_package, posixpath.normpath(target)))
            return match.group(0)
        for package in PACKAGES:
            if spec.startswith(package + "/"):
                inner = spec[len(package) + 1 :]
                needed.append((package, inner))
                depth = own_path.count("/") + 1
                relative = "../" * depth + folder_of(package) + "/" + inner
                return f"{prefix}{quote}{relative}{quote}"
        return match.group(0)

    code_lines = []
    for line in source.splitlines(keepends=True):
        stripped = line.lstrip()
        if stripped.startswith(("*", "//", "/*")):
            code_lines.append(line)  # documentation examples keep their bare imports
        else:
            code_lines.append(_IMPORT.sub(replace, line))
    return "".join(code_lines), needed


def vendor(target: Path) -> dict[str, object]:
    versions: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        unpacked = {}
        for package, (version, _) in PACKAGES.items():
            unpacked[package] = _npm_pack(package, version, work)
        todo = [(package, entry) for package, (_, entries) in PACKAGES.items() for entry in entries]
        taken: dict[str, list[str]] = {package: [] for package in PACKAGES}
        seen: set[tuple[str, str]] = set()
        if target.exists():
            shutil.rmtree(target)
        while todo:
            package, path = todo.pop()
            if (package, path) in seen:
                continue
            seen.add((package, path))
            root, _ = unpacked[package]
            source = (root / path).read_text(encoding="utf-8")
            rewritten, needed = _rewrite(source, path, package)
            destination = target / folder_of(package) / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(rewritten, encoding="utf-8")
            taken[package].append(path)
            todo.extend(needed)
        for package, (version, _) in PACKAGES.items():
            root, integrity = unpacked[package]
            for extra in ("LICENSE", "package.json"):
                shutil.copy(root / extra, target / folder_of(package) / extra)
            versions[package] = {
                "version": version,
                "integrity": integrity,
                "folder": folder_of(package),
                "files": sorted(taken[package]),
            }
    (target / "VERSIONS.json").write_text(json.dumps(versions, indent=1) + "\n", encoding="utf-8")
    return versions


def digest(folder: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        sha.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not change")
    args = parser.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as temporary:
            fresh = Path(temporary) / "vendor"
            vendor(fresh)
            same = digest(fresh) == digest(VENDOR)
        print("vendor/ matches the pinned versions" if same else "vendor/ differs: update it")
        return 0 if same else 1
    versions = vendor(VENDOR)
    for package, info in versions.items():
        print(f"{package} {info['version']}: {len(info['files'])} files")  # type: ignore[index]
    return 0


if __name__ == "__main__":
    sys.exit(main())
