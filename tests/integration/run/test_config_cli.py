"""`routepilot config check`, `config dump` and `run` on a file, as an engineer runs them:
the installed command in a process of its own, its exit code and what it prints.

No namespace, daemon or socket: a broken file must be refused before any of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROUTEPILOT = str(Path(sys.executable).with_name("routepilot"))

GOOD = """\
routers:
  - name: edge1
    address: 192.0.2.1
    asn: 65000
providers:
  - name: transit-a
    asn: 64501
    next_hops: [198.51.100.1]
    capacity_mbps: 1000
  - name: transit-b
    asn: 64502
    next_hops: [198.51.100.9]
    capacity_mbps: 10000
    commit_mbps: 2000
flows:
  exporters: [192.0.2.0/24]
inject:
  dry_run: true
policy:
  hold_down_s: 120
"""


def routepilot(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [ROUTEPILOT, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_check_accepts_a_good_file_and_says_what_it_holds(tmp_path: Path) -> None:
    path = write(tmp_path, "routepilot.yaml", GOOD)
    out = routepilot("config", "check", str(path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{path}: ok (1 routers, 2 providers, dry_run=on)"
    assert out.stderr == ""


def test_a_broken_file_is_refused_naming_file_line_and_key(tmp_path: Path) -> None:
    lines = GOOD.splitlines()
    typo = lines.index("  hold_down_s: 120") + 1
    value = lines.index("    capacity_mbps: 1000") + 1
    cases = {
        # a misspelt key: where, and which
        "typo.yaml": (
            GOOD.replace("hold_down_s:", "hold_downs:"),
            f":{typo}: policy.hold_downs: unknown key",
        ),
        # a value of the wrong kind: the provider's key
        "value.yaml": (
            GOOD.replace("capacity_mbps: 1000\n", "capacity_mbps: lots\n"),
            f":{value}: providers.0.capacity_mbps: Input should be a valid number",
        ),
        # not YAML at all
        "yaml.yaml": ("routers: [\n", ":2: not valid YAML"),
    }
    for name, (text, said) in cases.items():
        path = write(tmp_path, name, text)
        out = routepilot("config", "check", str(path))
        assert out.returncode == 2, (name, out.stdout, out.stderr)
        assert f"error: {path}{said}" in out.stderr, (name, out.stderr)
        assert "Traceback" not in out.stderr, name
        # The daemon refuses the same file with the same words, before it opens anything.
        ran = routepilot("run", "--config", str(path), "--no-api")
        assert ran.returncode == 2, (name, ran.stdout, ran.stderr)
        assert f"error: {path}{said}" in ran.stderr, (name, ran.stderr)
    missing = routepilot("config", "check", str(tmp_path / "absent.yaml"))
    assert missing.returncode == 2 and "absent.yaml" in missing.stderr, missing.stderr


def test_dump_shows_every_default_and_is_itself_a_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, "routepilot.yaml", GOOD)
    out = routepilot("config", "dump", str(path))
    assert out.returncode == 0, out.stderr
    dumped = yaml.safe_load(out.stdout)
    # What the file says, and the defaults it left out.
    assert [p["name"] for p in dumped["providers"]] == ["transit-a", "transit-b"]
    assert dumped["providers"][1]["commit_mbps"] == 2000
    assert dumped["policy"]["hold_down_s"] == 120
    defaults = yaml.safe_load(routepilot("config", "dump").stdout)
    assert dumped["flows"]["netflow_port"] == defaults["flows"]["netflow_port"] == 2055
    assert set(dumped) == set(defaults)
    # The dump is a file routepilot takes back as it is: checked, and dumped again unchanged.
    again = write(tmp_path, "dumped.yaml", out.stdout)
    assert routepilot("config", "check", str(again)).returncode == 0
    assert routepilot("config", "dump", str(again)).stdout == out.stdout
