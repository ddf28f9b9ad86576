"""Runs the browser viewer's node unit tests (tests/browser/*.test.mjs) under pytest.

The vectors they check against are made here, once, by make_vectors.py with the real
protocol/ code, so the README's `python3 -m pytest -q` runs them all. The node output is
shown when a test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.browser.node_peer import node_binary

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NODE_TESTS_TIMEOUT_SECONDS = 300
# At least this many node tests must have passed (a test file that stops loading must not
# pass as "0 failed").
MIN_NODE_TESTS = 57


def test_node_unit_tests_pass_against_protocol_vectors(tmp_path):
    vectors = tmp_path / "vectors.json"
    subprocess.run(
        [sys.executable, str(HERE / "make_vectors.py"), str(vectors)],
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    tests = sorted(str(path) for path in HERE.glob("*.test.mjs"))
    result = subprocess.run(
        [node_binary(), "--test", "--test-reporter=tap", *tests],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "FERNWARTUNG_VECTORS": str(vectors)},
        timeout=NODE_TESTS_TIMEOUT_SECONDS,
    )
    summary = {
        key: int(value)
        for line in result.stdout.splitlines()
        if line.startswith("# ") and len(parts := line[2:].split()) == 2 and parts[1].isdigit()
        for key, value in [parts]
    }
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert summary.get("fail") == 0 and summary.get("pass", 0) >= MIN_NODE_TESTS, summary
