"""Suite-wide settings: hypothesis profiles and the one demo run the suite shares.

Hypothesis profiles (``HYPOTHESIS_PROFILE`` selects one; ``make test-random`` sets it):

- ``ci`` (the default: ``make test`` and CI): ``derandomize=True``, so every run draws the
  same examples from each test's source and a failure on one machine replays on any other;
  no example database (nothing written into the clone).
- ``random``: fresh random examples on every run, to look for new failures. A failure prints
  the ``@reproduce_failure`` blob and the falsifying example to pin as a regression test.

Each test's ``@settings`` keeps its own ``max_examples`` and ``deadline``; the profile
supplies the rest.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("random", derandomize=False, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> tuple[Path, str]:
    """``promosim demo`` on its default market, once for the whole suite (it is the
    suite's slowest call): the output directory and what the command printed."""
    from cli import app

    out = tmp_path_factory.mktemp("demo") / "d"
    result = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.stdout
