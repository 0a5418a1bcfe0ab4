"""The manifest: what went into a run and every artifact it holds, with sizes and hashes.

``manifest.json`` is written last in a run folder, so a folder without one is incomplete.
:func:`verify_run_folder` re-hashes every listed artifact and checks the run id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quantrun.canonical import sha256_hex

MANIFEST_FILE = "manifest.json"
MANIFEST_SCHEMA_VERSION = 1


class ManifestProblem(Exception):
    """A run folder that cannot be trusted; the message says why (for reports, not users)."""


def load_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestProblem("manifest.json is missing") from None
    except (OSError, ValueError, UnicodeDecodeError):
        raise ManifestProblem("manifest.json is unreadable or not JSON") from None
    if not isinstance(data, dict) or data.get("schema_version") != MANIFEST_SCHEMA_VERSION:
        raise ManifestProblem("manifest.json has an unknown shape or schema version")
    for key in ("run_id", "artifacts", "identity", "summary"):
        if key not in data:
            raise ManifestProblem(f"manifest.json lacks {key!r}")
    return data


def verify_artifacts(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Problems found re-hashing every listed artifact (empty when all match)."""
    problems = []
    for artifact in manifest["artifacts"]:
        name = artifact.get("name", "")
        if "/" in name or "\\" in name or name.startswith("."):
            problems.append(f"{name!r}: not a plain file name")
            continue
        path = folder / name
        try:
            data = path.read_bytes()
        except OSError:
            problems.append(f"{name}: missing")
            continue
        if len(data) != artifact.get("bytes") or sha256_hex(data) != artifact.get("sha256"):
            problems.append(f"{name}: size or sha256 differs from the manifest")
    return problems


def verify_run_folder(folder: Path, expected_run_id: str) -> dict[str, Any]:
    manifest = load_manifest(folder)
    if manifest["run_id"] != expected_run_id:
        raise ManifestProblem("run_id in manifest.json does not match the folder name")
    problems = verify_artifacts(folder, manifest)
    if problems:
        raise ManifestProblem("; ".join(problems))
    return manifest


def index_entry(manifest: dict[str, Any], created_at: str | None) -> dict[str, Any]:
    """What the registry keeps per run: enough to list and filter without opening files."""
    identity = manifest["identity"]
    return {
        "status": "succeeded",
        "created_at": created_at,
        "symbol": identity["symbol"],
        "timeframe": identity["timeframe"],
        "strategy": identity["strategy"]["id"],
        "params": identity["strategy"]["params"],
        "risk_level": manifest.get("risk", {}).get("level"),
        "dataset_id": identity["dataset_id"],
        "first_bar": manifest["summary"].get("first_bar"),
        "last_bar": manifest["summary"].get("last_bar"),
        "summary": {
            k: manifest["summary"].get(k)
            for k in ("total_return", "sharpe", "max_drawdown", "trades", "final_equity")
        },
    }
