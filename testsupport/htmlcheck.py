"""The Nu HTML checker (vnu, the W3C validator's engine) for tests: the jar comes from npm
(`vnu-jar`, pinned in package.json), Java from Debian (`make test` installs it through
scripts/ensure-java). One JVM checks every file at once: starting Java is most of its time."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testsupport.processes import BASE_DIR

VNU_JAR = BASE_DIR / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"

# Messages the checker is wrong about for these pages, each a regular expression over the
# whole message with the reason it is wrong. Empty: every error it finds is ours to fix.
FILTER_PATTERNS: list[str] = []


@dataclass(frozen=True)
class Finding:
    file: Path
    kind: str  # "error", "warning", "info" or "non-document-error"
    line: int
    message: str
    extract: str

    def describe(self) -> str:
        extract = " ".join(self.extract.split())
        return f"line {self.line}: {self.message}" + (f"\n      near: {extract}" if extract else "")


def vnu_missing() -> str | None:
    """Why the checker cannot run here, or None."""
    if not VNU_JAR.is_file():
        return f"{VNU_JAR} is missing: run `make install` (npm ci installs vnu-jar)."
    if shutil.which("java") is None:
        return "java is missing: install Debian's default-jre-headless (make test does, scripts/ensure-java)."
    return None


def vnu_check(files: list[Path], *, errors_only: bool = True) -> list[Finding]:
    """Every message vnu has about `files` (HTML documents, named *.html)."""
    command = [
        "java",
        "-jar",
        str(VNU_JAR),
        "--format",
        "json",
        "--stdout",
        "--exit-zero-always",
        # Language detection guesses from a page's words; a short page of names trips it.
        "--no-langdetect",
        *(["--errors-only"] if errors_only else []),
        *(arg for pattern in FILTER_PATTERNS for arg in ("--filterpattern", pattern)),
        *(str(path) for path in files),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"vnu did not run (exit {done.returncode}): {done.stderr[-2000:]}")
    findings = []
    for message in json.loads(done.stdout)["messages"]:
        kind = message["type"]
        if kind == "info" and message.get("subType") == "warning":
            kind = "warning"
        url = message.get("url", "")
        findings.append(
            Finding(
                file=Path(url.removeprefix("file:")) if url else Path(),
                kind=kind,
                line=int(message.get("lastLine", 0)),
                message=message.get("message", ""),
                extract=message.get("extract", ""),
            )
        )
    return findings
