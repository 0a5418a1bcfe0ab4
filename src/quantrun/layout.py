"""The RUNS_ROOT layout: every folder and file quantrun keeps under one root, named once.

A leaf beside ``settings.py``: the data store, the registry, staging, jobs, the kill switch and
the re-run code all ask a :class:`Layout` for their paths, so no other module spells a folder
name of the layout::

    layout = Layout(Path("runs-root"))
    layout.run("3fc6930b…")          # runs-root/runs/3fc6930b…
    layout.upload("1962d8bf…")       # runs-root/uploads/1962d8bf….csv

``docs/registry.md`` shows the same tree for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Paths under one RUNS_ROOT. Pure: nothing is created or read."""

    root: Path

    # -- folders ----------------------------------------------------------------------------
    @property
    def runs(self) -> Path:
        """Published runs, one immutable folder each (``manifest.json`` written last)."""
        return self.root / "runs"

    @property
    def datasets(self) -> Path:
        """Content-addressed datasets, stored once."""
        return self.root / "datasets"

    @property
    def receipts(self) -> Path:
        """Ingest receipts: which stored dataset given input bytes and ingest options made
        (``data/receipt.py``). A cache: a missing or damaged one only means a full ingest."""
        return self.root / "receipts"

    @property
    def staging(self) -> Path:
        """Work in progress; never listed, cleared on start-up."""
        return self.root / "staging"

    @property
    def uploads(self) -> Path:
        """Uploaded CSVs, content-addressed (``<sha256>.csv``)."""
        return self.root / "uploads"

    @property
    def jobs(self) -> Path:
        """One JSON file per job, its lock beside it."""
        return self.root / "jobs"

    @property
    def control(self) -> Path:
        """The kill switch, its audit log, build slots and the readiness probe."""
        return self.root / "control"

    @property
    def quarantine(self) -> Path:
        """Run folders whose manifest did not verify, moved aside by recovery."""
        return self.root / "quarantine"

    @property
    def cache(self) -> Path:
        """Verified provider archives (one folder per provider, the host's layout inside),
        kept so a second fetch downloads nothing."""
        return self.root / "cache"

    @property
    def build_slots(self) -> Path:
        """One lock file per concurrent-build slot."""
        return self.control / "build-slots"

    @property
    def strategies(self) -> Path:
        """The user's strategies: sources stored by sha256 and the index that lists them."""
        return self.root / "strategies"

    # -- files ------------------------------------------------------------------------------
    @property
    def index(self) -> Path:
        """The registry, derived from the manifests."""
        return self.root / "index.json"

    @property
    def registry_lock(self) -> Path:
        """The registry's single-writer lock (a kernel lock; never deleted while held)."""
        return self.root / ".registry.lock"

    @property
    def jobs_lock(self) -> Path:
        return self.jobs / ".jobs.lock"

    @property
    def killswitch_state(self) -> Path:
        return self.control / "killswitch.json"

    @property
    def killswitch_audit(self) -> Path:
        return self.control / "audit.jsonl"

    @property
    def killswitch_lock(self) -> Path:
        return self.control / ".killswitch.lock"

    @property
    def strategies_index(self) -> Path:
        return self.strategies / "index.json"

    @property
    def strategies_lock(self) -> Path:
        return self.strategies / ".strategies.lock"

    # -- one item ---------------------------------------------------------------------------
    def run(self, run_id: str) -> Path:
        return self.runs / run_id

    def dataset(self, dataset_id: str) -> Path:
        return self.datasets / dataset_id

    def receipt(self, name: str) -> Path:
        """One ingest receipt, ``<total input bytes>-<key>.json``."""
        return self.receipts / f"{name}.json"

    def provider_cache(self, provider: str) -> Path:
        """One provider's verified archives (``cache/binance/data/...``)."""
        return self.cache / provider

    def strategy_source(self, sha256: str) -> Path:
        return self.strategies / f"{sha256}.json"

    def upload(self, sha256: str) -> Path:
        return self.uploads / f"{sha256}.csv"

    def job(self, job_id: str) -> Path:
        return self.jobs / f"{job_id}.json"

    def job_lock(self, job_id: str) -> Path:
        return self.jobs / f"{job_id}.lock"

    # -- sweeps -----------------------------------------------------------------------------
    @property
    def sweeps(self) -> Path:
        """Published sweeps, one folder each (``sweep.json`` written last), and their listing."""
        return self.root / "sweeps"

    @property
    def sweeps_index(self) -> Path:
        """The sweep listing, derived from the sweep folders."""
        return self.sweeps / "index.json"

    @property
    def sweeps_lock(self) -> Path:
        return self.sweeps / ".sweeps.lock"

    @property
    def sweeps_partial(self) -> Path:
        """Checkpoints of sweeps being computed (a killed sweep resumes from its own)."""
        return self.sweeps / ".partial"

    def sweep(self, sweep_id: str) -> Path:
        return self.sweeps / sweep_id

    def sweep_partial(self, sweep_id: str) -> Path:
        return self.sweeps_partial / sweep_id
