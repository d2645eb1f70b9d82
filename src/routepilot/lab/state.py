"""The lab's state file: what `lab up` made, so `lab down` can remove exactly that.

Written after every step of `lab up`, so even a crash half-way leaves a record
of the namespaces and PIDs to clean.

Where the files live is decided by the caller: `state_root()` reads
``ROUTEPILOT_LAB_DIR`` when it is called (not when this module is imported), so a
test or a second lab on the same host can pass its own folder instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_ROOT = Path("/run/routepilot-lab")


def state_root(environ: Mapping[str, str] | None = None) -> Path:
    """The folder holding every lab's state: ``$ROUTEPILOT_LAB_DIR`` or /run/routepilot-lab."""
    env = os.environ if environ is None else environ
    return Path(env.get("ROUTEPILOT_LAB_DIR", DEFAULT_ROOT))


@dataclass
class ProcessRecord:
    node: str
    role: str
    pid: int
    marker: str
    """A string the process's command line contains: checked before a PID is
    signalled, so a PID reused by an unrelated process is never killed."""


@dataclass
class LabState:
    name: str
    spec: dict
    created: float
    namespaces: list[str] = field(default_factory=list)
    processes: list[ProcessRecord] = field(default_factory=list)
    impairments: dict[str, list[dict]] = field(default_factory=dict)
    traffic: dict = field(default_factory=dict)
    ready: bool = False
    root: Path = field(default=DEFAULT_ROOT, compare=False)
    """The folder of every lab's state (see `state_root`); not written to the file."""

    @staticmethod
    def dir_for(name: str, root: Path | None = None) -> Path:
        return (root or state_root()) / name

    @property
    def dir(self) -> Path:
        return self.root / self.name

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        raw = asdict(self)
        del raw["root"]
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(raw, indent=1))
        tmp.replace(self.dir / "state.json")

    @classmethod
    def load(cls, name: str, root: Path | None = None) -> LabState | None:
        root = root or state_root()
        path = root / name / "state.json"
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        raw.pop("root", None)
        raw["processes"] = [ProcessRecord(**p) for p in raw.get("processes", [])]
        return cls(**raw, root=root)

    @staticmethod
    def names(root: Path | None = None) -> list[str]:
        root = root or state_root()
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir())
