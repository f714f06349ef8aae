"""Files tests keep for people to look at after a run (CI uploads var/test-artifacts/): screenshots,
and what the site draws that no assertion can judge by eye (share images, posters, pledge cards)."""

from __future__ import annotations

from pathlib import Path

from testsupport.processes import BASE_DIR

ARTIFACTS = BASE_DIR / "var" / "test-artifacts"


def artifact_path(kind: str, name: str) -> Path:
    """Where the artifact `name` of this kind (a folder: "screenshots", "share-images") goes."""
    folder = ARTIFACTS / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def keep_artifact(kind: str, name: str, data: bytes) -> Path:
    """Keep `data` as the artifact `name`, replacing the last run's."""
    path = artifact_path(kind, name)
    path.write_bytes(data)
    return path
