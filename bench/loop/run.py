"""The closed loop under a flapping impairment, on the lab (needs root).

An impairment that flips every 20 s (+40 ms on the BGP-default provider of the
busiest prefixes) for ten minutes, with the production policy (300 s hold-down):
routepilot must move each prefix at most twice. The figure beside it is what a
naive controller without hold-down would do: one move per flip.

    .venv/bin/python bench/loop/run.py [--minutes 10] [--flip-s 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.lab.looplab import LoopLab  # noqa: E402

from routepilot.lab.spec import default_spec  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--flip-s", type=float, default=20.0)
    ap.add_argument("--prefixes", type=int, default=3)
    args = ap.parse_args()
    spec = default_spec(3, 32, "rplabb")
    with tempfile.TemporaryDirectory() as tmp:
        loop = LoopLab(spec, Path(tmp), policy__hold_down_s=300.0)
        try:
            loop.up()
            k = lambda p: int(p.split(".")[2])  # noqa: E731
            busy = loop.busiest(32)
            victim = spec.bgp_best(k(busy[0]))
            prefixes = [p for p in busy if spec.bgp_best(k(p)) == victim][: args.prefixes]
            start = time.time()
            flips = 0
            on = False
            while time.time() - start < args.minutes * 60:
                on = not on
                if on:
                    loop.lab.impair(victim, prefixes, delay_ms=40)
                else:
                    loop.lab.clear(victim)
                flips += 1
                time.sleep(args.flip_s)
            loop.lab.clear(victim)
            moves = {p: 0 for p in prefixes}
            for m in loop.api(f"/decisions?since={start}&limit=1000"):
                if m["prefix"] in moves:
                    moves[m["prefix"]] += 1
        finally:
            loop.down()
    per_10 = {p: n * 10 / args.minutes for p, n in moves.items()}
    worst = max(per_10.values())
    naive = flips * 10 / args.minutes
    print(f"flapping impairment: {flips} flips in {args.minutes:g} min on {victim}")
    for p, n in moves.items():
        print(f"  {p}: {n} moves ({per_10[p]:.1f} per 10 min)")
    print(
        f"moves per prefix per 10 min: routepilot {worst:.1f} (goal <= 2), "
        f"naive controller {naive:.0f}, ratio {worst / naive:.3f}"
    )
    return 0 if worst <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
