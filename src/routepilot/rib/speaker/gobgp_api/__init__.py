"""GoBGP's gRPC API (``apipb``, GoBGP 3.10) as Python stubs, generated at setup.

GoBGP's .proto files are not part of this repository: ``make setup`` (its
``gobgp-api`` step) fetches them from Debian's ``golang-github-osrg-gobgp-dev``
package (the same version as the ``gobgpd`` it runs) and generates the stubs into
``_gen/`` here (git-ignored), with ``watch.proto`` from ``proto/``; see
``generate.py``. Only the GoBGP backend needs them: :func:`require_stubs` turns
their absence into a message naming the command that makes them.
"""

from __future__ import annotations

import importlib

GENERATE_COMMAND = "make gobgp-api"
"""Fetches GoBGP's .proto files and generates the stubs (part of ``make setup``)."""

_GEN = __name__ + "._gen"
_MODULES = ("gobgp_pb2", "gobgp_pb2_grpc", "attribute_pb2", "watch_pb2")


class StubsMissing(RuntimeError):
    """The generated stubs are not there: the GoBGP backend cannot run."""


def require_stubs() -> None:
    """Imports the stubs, or raises :class:`StubsMissing` saying how to make them."""
    for name in _MODULES:
        try:
            importlib.import_module(f"{_GEN}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name is None or not (exc.name == _GEN or exc.name.startswith(_GEN + ".")):
                raise
            raise StubsMissing(
                "rib.speaker.backend 'gobgp' needs GoBGP's gRPC stubs, which are generated, "
                f"not shipped: run `{GENERATE_COMMAND}` (part of `make setup`) in the "
                "routepilot checkout"
            ) from None
