"""ruff over the course's code and instructor notebooks."""

import subprocess
import sys
from pathlib import Path

from autograder.course import ROOT


def test_ruff_passes_on_code_and_notebooks():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "--output-format", "concise", "."], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
