"""Issue 21, point 20: the README's first command works on a machine without a C compiler.

pip is asked to resolve the project with wheels only (`--only-binary=:all:`, a dry run):
a dependency that exists only as source (pynput pulled in evdev on Linux) fails it."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIP_SECONDS = 240


def test_no_dependency_needs_a_compiler_on_linux():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [dependency.split(";")[0] for dependency in project["dependencies"]]
    assert not any(name.lower().startswith(("pynput", "evdev")) for name in names)


def test_pip_installs_the_project_from_wheels_alone(tmp_path):
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--only-binary=:all:",
         "--ignore-installed", "--disable-pip-version-check", "--quiet",
         "--report", str(report), f"{ROOT}[dev]"],
        capture_output=True, text=True, timeout=PIP_SECONDS, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert "evdev" not in names and "python-xlib" in names and "pytest" in names
