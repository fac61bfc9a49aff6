"""Where the paper's data is: ../shared/data beside the repository. The one place that computes it.

Tests reach it through the ``shared_data`` fixture; a module that needs a path at import time (a parametrize
list, a module-scoped fixture) imports ``SHARED_DATA`` or ``PAPER`` from here and carries ``needs_shared``.
"""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PAPER = SHARED_DATA / "made_in_china_paper"
