"""A lab with routepilot running in it, and what the closed-loop tests read from it."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from routepilot.api.client import ApiClient, ApiError
from routepilot.config import dump_yaml
from routepilot.lab.controller import controller_config
from routepilot.lab.core import Lab
from routepilot.lab.spec import LabSpec, edge_link
from routepilot.lab.traffic import zipf_shares

TOKEN = "lab"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopLab:
    """Lab + controller + the checks a network engineer would make by hand."""

    def __init__(self, spec: LabSpec, tmp: Path, **overrides: object) -> None:
        self.lab = Lab(spec)
        self.spec = spec
        self.tmp = tmp
        self.port = free_port()
        self.overrides = overrides
        self.config_path = tmp / f"{spec.name}-routepilot.yaml"

    # -- lifecycle ------------------------------------------------------------------

    def up(self) -> None:
        self.lab.down()
        self.lab.up(wait_s=30)
        self.write_config()
        self.lab.traffic_start(rate_mbps=4, duration_s=1800)
        self.lab.controller_start(self.config_path)
        self.wait(lambda: len(self.api("/prefixes?top=5")) >= 5, 60, "traffic in the API")

    def write_config(self, **extra: object) -> None:
        base = controller_config(
            self.spec, self.lab.ifindexes(), str(self.tmp / "rp.db"), self.port
        )
        data = base.model_dump(mode="json")
        for key, value in {**self.overrides, **extra}.items():
            section, _, field = key.partition("__")
            data[section][field] = value
        self.config_path.write_text(dump_yaml(type(base).model_validate(data)))

    def down(self) -> None:
        self.lab.down()

    # -- reading ----------------------------------------------------------------------

    def api(self, path: str, method: str = "GET", body: dict | None = None):  # type: ignore[no-untyped-def]
        """The controller's API, as an engineer's script would call it (query in ``path``)."""
        path, _, query = path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if p)
        return ApiClient(f"http://127.0.0.1:{self.port}", TOKEN).call(method, path, params, body)

    def exit_of(self, prefix: str) -> str | None:
        """The provider edge's kernel FIB sends ``prefix`` to."""
        addr = prefix.split("/")[0]
        host = addr[:-1] + "1" if addr.endswith(".0") else addr + "1"
        out = subprocess.run(
            ["ip", "-n", self.lab.ns("edge"), "route", "get", host], capture_output=True, text=True
        ).stdout
        nh = {edge_link(i)[1]: p.name for i, p in enumerate(self.spec.providers, start=1)}
        for word in out.split():
            if word in nh:
                return nh[word]
        dev = out.split(" dev ")[1].split()[0] if " dev " in out else None
        return dev if dev in {p.name for p in self.spec.providers} else None

    def injected_routes(self) -> int:
        """Routes edge holds from the controller."""
        if self.spec.edge_router == "frr":
            out = self.lab.vtysh("show bgp ipv4 unicast neighbors 100.66.1.2 routes")
            return sum(1 for line in out.splitlines() if "198." in line)
        out = self.lab.birdc("edge", "show route protocol ctl count")
        words = out.split()
        return int(words[words.index("of") - 1]) if "of" in words else 0

    def busiest(self, n: int, among: Callable[[int], bool] = lambda k: True) -> list[str]:
        """The n busiest IPv4 destination prefixes the lab's traffic goes to."""
        v4 = self.spec.prefixes_v4_list()
        everything = v4 + self.spec.prefixes_v6_list()
        shares = zipf_shares(len(everything), self.spec.traffic.zipf_s)
        order = sorted(range(len(v4)), key=lambda k: -shares[k])
        return [v4[k] for k in order if among(k)][:n]

    def detail(self, prefix: str) -> str:
        """The prefix as the API explains it, for failure messages."""
        try:
            d = self.api(f"/prefixes/{prefix}")
        except (OSError, ValueError, ApiError) as exc:
            return f"(no detail: {exc})"
        rows = [
            f"{m['provider']}: route={m['has_route']} samples={m['samples']} rtt={m['rtt_ms']} "
            f"loss={m['loss']} [{m['loss_low']}, {m['loss_high']}]"
            for m in d["measurements"]
        ]
        return f"{prefix} exit={d['exit']} reason={d['reason']}; " + "; ".join(rows)

    @staticmethod
    def wait(
        check: Callable[[], bool],
        timeout: float,
        what: str,
        step: float = 0.1,
        diag: Callable[[], str] | None = None,
    ) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if check():
                    return time.monotonic() - start
            except (OSError, ValueError, ApiError):
                pass
            time.sleep(step)
        extra = f" ({diag()})" if diag else ""
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
