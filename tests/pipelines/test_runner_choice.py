"""``--runner DaskRunner`` on an install without the dask extra: exit 2 with one clear line, no traceback,
before the policy is loaded or anything is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.demo import DEMO_POLICY

# Makes ``import dask`` / ``import distributed`` fail as on an install without the extra, then runs the CLI.
_WITHOUT_DASK = """
import sys
sys.modules['dask'] = None
sys.modules['distributed'] = None
from redactline.pipelines.run import main
sys.argv = ['redactline run', *sys.argv[1:]]
main()
"""


def test_dask_runner_without_the_dask_extra_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,name\n1,Anna Weber\n")
    sink = tmp_path / "out" / "r.jsonl"
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_DASK, "--policy", str(DEMO_POLICY), "--source", str(src),
         "--sink", str(sink), "--runner", "DaskRunner", "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "--runner DaskRunner needs the dask extra" in proc.stderr
    assert "pip install 'redactline[dask]'" in proc.stderr
    assert not (tmp_path / "out").exists()  # refused before any output directory was made
