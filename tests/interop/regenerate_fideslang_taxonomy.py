"""Regenerate `fideslang_taxonomy.json`: the keys of fideslang's default taxonomy that the export is checked against.

fideslang pins pydantic below the version this project uses, so it is not a test dependency; run this with a
Python that has it installed (`python -m venv /tmp/fides && /tmp/fides/bin/pip install fideslang==3.1.4`):

    /tmp/fides/bin/python tests/interop/regenerate_fideslang_taxonomy.py
"""

from __future__ import annotations

import json
from pathlib import Path

from fideslang import __version__
from fideslang.default_taxonomy import DEFAULT_TAXONOMY
from fideslang.validation import FIDES_KEY_PATTERN

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    data = {
        "fideslang": __version__,
        "fides_key_pattern": FIDES_KEY_PATTERN,
        "data_category": sorted(c.fides_key for c in DEFAULT_TAXONOMY.data_category),
        "data_use": sorted(u.fides_key for u in DEFAULT_TAXONOMY.data_use),
        "data_subject": sorted(s.fides_key for s in DEFAULT_TAXONOMY.data_subject),
    }
    (HERE / "fideslang_taxonomy.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
