"""The demo policy and CSV bundled with the ``redactline.pipelines`` package."""

from __future__ import annotations

from pathlib import Path

import redactline.pipelines as pipelines_pkg

DEMO_DIR = Path(pipelines_pkg.__file__).parent / "demo"
DEMO_POLICY = DEMO_DIR / "demo-policy.yaml"
DEMO_CSV = DEMO_DIR / "customers.csv"
