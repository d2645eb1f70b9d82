"""Generates the Python stubs of GoBGP's gRPC API into ``_gen/`` (git-ignored).

GoBGP's own .proto files (``gobgp.proto``, ``attribute.proto``,
``capability.proto``; GoBGP 3.10.0, the version of Debian 12's ``gobgpd``) are
not in this repository. ``make gobgp-api`` (part of ``make setup``) extracts them
from Debian's ``golang-github-osrg-gobgp-dev`` package into ``build/`` without
installing it, and runs this module; routepilot's own ``watch.proto`` is in
``proto/``. The directory of GoBGP's files is the ``--proto-dir`` argument, else
the first of :data:`PROTO_DIRS` that has them. Needs ``grpcio-tools`` (a dev
dependency); running the stubs needs only ``grpcio`` and ``protobuf``.

Usage: python -m routepilot.rib.speaker.gobgp_api.generate [--proto-dir DIR] [OUTPUT_DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
OWN_PROTOS = HERE / "proto"
OUT = HERE / "_gen"
_API = Path("usr/share/gocode/src/github.com/osrg/gobgp/api")
PROTO_DIRS = (HERE.parents[4] / "build" / "gobgp-api" / _API, Path("/") / _API)
"""Where GoBGP's .proto files are looked for: extracted by ``make gobgp-api``, or
installed with the Debian package."""
GOBGP_PROTOS = ("gobgp.proto", "attribute.proto", "capability.proto")
PROTOS = (*GOBGP_PROTOS, "watch.proto")
OUTPUTS = (
    "gobgp_pb2.py",
    "gobgp_pb2_grpc.py",
    "attribute_pb2.py",
    "capability_pb2.py",
    "watch_pb2.py",
)


def find_proto_dir() -> Path:
    for d in PROTO_DIRS:
        if all((d / p).is_file() for p in GOBGP_PROTOS):
            return d
    raise FileNotFoundError(
        "GoBGP's .proto files are in none of "
        + ", ".join(map(str, PROTO_DIRS))
        + ": run `make gobgp-api` (it extracts Debian's golang-github-osrg-gobgp-dev)"
    )


def generate(out: Path = OUT, proto_dir: Path | None = None) -> None:
    """Writes the stubs (a package) into ``out``, replacing it whole once all are made."""
    import grpc_tools
    from grpc_tools import protoc

    proto_dir = proto_dir or find_proto_dir()
    include = str(Path(grpc_tools.__file__).parent / "_proto")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".gen-") as tmp:
        raw, pkg = Path(tmp) / "raw", Path(tmp) / "pkg"
        raw.mkdir()
        pkg.mkdir()
        args = ["protoc", f"-I{proto_dir}", f"-I{OWN_PROTOS}", f"-I{include}"]
        args += [f"--python_out={raw}", f"--grpc_python_out={raw}", *PROTOS]
        # protoc resolves the file names against -I; it runs in-process.
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {', '.join(PROTOS)} from {proto_dir}")
        for name in OUTPUTS:
            text = (raw / name).read_text()
            # protoc writes ``import gobgp_pb2 as ...``, a top-level module; the stubs
            # live in this package.
            text = re.sub(r"^import (\w+_pb2) as", r"from . import \1 as", text, flags=re.M)
            (pkg / name).write_text(text)
        (pkg / "__init__.py").write_text(
            f'"""Generated from GoBGP\'s .proto files in {proto_dir} by generate.py."""\n'
        )
        old = Path(tmp) / "old"
        if out.exists():
            out.rename(old)
        pkg.rename(out)
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=OUT)
    parser.add_argument("--proto-dir", type=Path, default=None)
    ns = parser.parse_args(argv)
    try:
        generate(ns.out, ns.proto_dir)
    except FileNotFoundError as exc:
        sys.exit(f"gobgp-api: {exc}")
    print(f"gobgp api stubs written to {ns.out}")


if __name__ == "__main__":
    main()
