"""What remote workers get: the sdist Beam builds from ``--setup_file ./setup.py`` holds every module of the
package and installs as ``redactline``; the worker image's Beam SDK tag matches the locked Beam."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _package_modules() -> set[str]:
    """Every .py file of the package, as its path in the source tree (from pyproject's package-dir)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return {str(p.relative_to(REPO)) for folder in config.values() for p in (REPO / folder).glob("*.py")}


@pytest.mark.slow
def test_setup_file_sdist_carries_every_module_and_installs_as_redactline(tmp_path):
    from apache_beam.runners.portability.stager import Stager

    # Beam's own code path for --setup_file (python -m build when installed, else setup.py sdist)
    sdist = Stager._build_setup_package(str(REPO / "setup.py"), str(tmp_path))
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    missing = _package_modules() - names
    assert not missing, f"the sdist lacks {sorted(missing)}"
    assert {"policies/library/general-pii.yaml", "pyproject.toml"} <= names

    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", sdist,
                    "-w", str(wheels)], check=True, capture_output=True)
    (wheel,) = wheels.glob("redactline-*.whl")
    installed = set(zipfile.ZipFile(wheel).namelist())
    assert {"redactline/pipelines/run.py", "redactline/connectors/postgres.py",
            "redactline/policies/library/general-pii.yaml", "redactline/__main__.py"} <= installed


def test_worker_image_uses_the_locked_beam_and_keeps_the_sdk_entrypoint():
    dockerfile = (REPO / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/beam_python(\d+\.\d+)_sdk:(\S+)$", dockerfile, re.M)
    assert base, "the worker image must be built FROM Beam's Python SDK image"
    locked = re.search(r"^apache-beam==(\S+) ", (REPO / "requirements.lock").read_text(), re.M)
    assert locked and base.group(2) == locked.group(1), "image tag and locked apache-beam differ"
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == f">={base.group(1)}" or base.group(1) >= requires.removeprefix(">=")
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in dockerfile
