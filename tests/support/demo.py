"""The demo policy and CSV bundled with the ``redactline.pipelines`` package."""

from __future__ import annotations

from pathlib import Path

import redactline.pipelines as pipelines_pkg

DEMO_DIR = Path(pipelines_pkg.__file__).parent / "demo"
DEMO_POLICY = DEMO_DIR / "demo-policy.yaml"
DEMO_CSV = DEMO_DIR / "customers.csv"


def demo_policy_keeping(directory: Path, *columns: str) -> Path:
    """A copy of the demo policy in ``directory`` whose field rules also keep ``columns`` as they are."""
    keep = "".join(f"\n    {column}: keep" for column in columns)
    path = directory / "policy.yaml"
    path.write_text(DEMO_POLICY.read_text().replace("    country: keep", "    country: keep" + keep, 1))
    return path
