"""The OpenAPI spec as committed in docs/openapi.json.

Regenerate after changing an endpoint or a model::

    .venv/bin/python -m routepilot.api.openapi docs/openapi.json

``tests/unit/api/test_openapi.py`` fails while the committed file differs
from what the app serves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView


def spec() -> dict[str, Any]:
    """The spec the app serves; it depends on neither the view's data nor the tokens."""
    return create_app(FakeView(), ApiConfig(), static_dir=Path("/nonexistent")).openapi()


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render(spec())
    if args:
        Path(args[0]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
