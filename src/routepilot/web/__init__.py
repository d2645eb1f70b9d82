"""routepilot web stage: the dashboard, plain static files served by the API process.

No build step: ``static/`` holds the HTML, CSS and ES modules as they are served.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
"""The folder the API mounts at ``/``."""

__all__ = ["STATIC_DIR"]
