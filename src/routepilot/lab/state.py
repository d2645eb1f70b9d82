"""The lab's state file: what `lab up` made, so `lab down` can remove exactly that.

Written after every step of `lab up`, so even a crash half-way leaves a record
of the namespaces and PIDs to clean.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_ROOT = Path(os.environ.get("ROUTEPILOT_LAB_DIR", "/run/routepilot-lab"))


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

    @staticmethod
    def dir_for(name: str) -> Path:
        return STATE_ROOT / name

    @property
    def dir(self) -> Path:
        return self.dir_for(self.name)

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(self.dir / "state.json")

    @classmethod
    def load(cls, name: str) -> LabState | None:
        path = cls.dir_for(name) / "state.json"
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        raw["processes"] = [ProcessRecord(**p) for p in raw.get("processes", [])]
        return cls(**raw)

    @staticmethod
    def names() -> list[str]:
        if not STATE_ROOT.is_dir():
            return []
        return sorted(p.name for p in STATE_ROOT.iterdir() if p.is_dir())
