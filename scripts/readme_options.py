"""Rewrite the option table of docs/magic.md (between <!-- options:start --> and <!-- options:end -->)
from the one declaration, gepa_jupyter.core.options. Run after adding or changing an option:

    .venv/bin/python scripts/readme_options.py
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's declaration, whatever is installed

from gepa_jupyter.core.options import options_markdown  # noqa: E402

PAGE = ROOT / "docs" / "magic.md"
PATTERN = re.compile(r"(<!-- options:start -->\n).*?(\n<!-- options:end -->)", re.S)

if __name__ == "__main__":
    text = PAGE.read_text()
    updated = PATTERN.sub(lambda m: m.group(1) + options_markdown() + m.group(2), text, count=1)
    PAGE.write_text(updated)
    print("docs/magic.md option table:", "updated" if updated != text else "already up to date")
