"""The analysis scripts are run as ``python experiments/X.py``: make them importable the same way here."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
