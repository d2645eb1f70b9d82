"""The PDF report: the HTML page printed by headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from routepilot.report.source import ReportError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Without these, Chromium reaches for the network at start (updates, sync, QUIC probes);
# a controller host often has no route out, and a report must not wait on that.
QUIET = (
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-pdf-header-footer",
)


def find_chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise ReportError(
        "a PDF report needs Chromium, which is not installed: apt-get install chromium "
        "(or ask for --format html and print it from a browser)"
    )


def html_to_pdf(
    html: str, output: Path, chromium: str | None = None, timeout_s: float = 90
) -> Path:
    """Writes ``output`` (a PDF) from ``html``; raises ReportError with Chromium's words."""
    exe = chromium or find_chromium()
    output = output.resolve()
    with tempfile.TemporaryDirectory(prefix="routepilot-report-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        args = [exe, *QUIET, f"--user-data-dir={tmp}/profile", f"--print-to-pdf={output}"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox.
        args.append(page.as_uri())
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ReportError(f"chromium did not print the PDF within {timeout_s:g} s") from None
        except OSError as e:
            raise ReportError(f"cannot run {exe}: {e.strerror or e}") from None
        if done.returncode != 0 or not output.exists() or output.stat().st_size == 0:
            tail = (done.stderr or "").strip().splitlines()[-3:]
            raise ReportError(f"chromium failed to print the PDF: {' | '.join(tail)}")
    return output
