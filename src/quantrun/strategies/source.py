"""A strategy's code as an input: its source files, their hash, and loading them.

A strategy's identity is its id, its version and the sha256 of its source
(:attr:`StrategySource.sha256`). For a strategy file of the user's (a ``.py`` file or a package
folder) the source is every ``.py`` file of it; for a built-in it is the text of its class.
A run stores the source it ran (``strategy_source.json``), so the same code can be loaded
again from the run alone, years later, after the user's file changed or is gone::

    source = StrategySource.from_path(Path("my_strategy.py"))
    module = source.load()                 # imported under a name unique to its hash
    [cls] = strategies_in(module)

Loading runs the user's code with the user's own privileges; quantrun never accepts code over
HTTP (strategies are added with the CLI on the machine).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import json
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from quantrun.errors import ErrorCode, error
from quantrun.strategies.base import Strategy

#: Module name prefix of loaded user strategies: ``quantrun_user_<first 16 hex of the hash>``.
MODULE_PREFIX = "quantrun_user_"
#: The largest strategy source accepted (all files together).
MAX_SOURCE_BYTES = 1 << 20
SOURCE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative, POSIX separators
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StrategySource:
    """The files of a strategy's code. ``kind``: ``file``, ``package`` or ``builtin``."""

    kind: str
    files: tuple[SourceFile, ...]

    @property
    def sha256(self) -> str:
        """The hash of the code: sha256 of the canonical list of (path, file sha256)."""
        listing = [[f.path, f.sha256] for f in sorted(self.files, key=lambda f: f.path)]
        text = json.dumps(listing, separators=(",", ":"), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def bytes(self) -> int:
        return sum(len(f.text.encode("utf-8")) for f in self.files)

    # -- reading ---------------------------------------------------------------------------
    @classmethod
    def from_path(cls, path: Path) -> StrategySource:
        """The source of a ``.py`` file or a package folder (every ``.py`` file below it)."""
        if path.is_dir():
            if not (path / "__init__.py").is_file():
                raise error(
                    ErrorCode.STRATEGY_SOURCE_INVALID,
                    f"{path.name}/ is a folder without __init__.py (not a Python package)",
                )
            names = sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
            files = tuple(SourceFile(p.relative_to(path).as_posix(), _read(p)) for p in names)
            source = cls("package", files)
        elif path.is_file() and path.suffix == ".py":
            source = cls("file", (SourceFile(path.name, _read(path)),))
        elif path.exists():
            raise error(
                ErrorCode.STRATEGY_SOURCE_INVALID, f"{path.name} is not a .py file or a package"
            )
        else:
            raise error(ErrorCode.INPUT_NOT_FOUND, f"no strategy file {path.name}")
        if source.bytes > MAX_SOURCE_BYTES:
            raise error(
                ErrorCode.STRATEGY_SOURCE_INVALID,
                f"{path.name} holds {source.bytes:,} bytes of code; at most "
                f"{MAX_SOURCE_BYTES:,} are accepted",
            )
        return source

    @classmethod
    def of_builtin(cls, strategy: type[Strategy]) -> StrategySource:
        """A built-in's source: the text of its class, named by its module and class (read once
        per class and process: the text of loaded code does not change under it)."""
        return _builtin_source(strategy)

    @classmethod
    def of_entry_point(cls, strategy: type[Strategy], dist: str, version: str) -> StrategySource:
        """An installed package's strategy: its distribution's name and version, and the text
        of the module file that defines the class."""
        path = inspect.getsourcefile(strategy)
        text = Path(path).read_text(encoding="utf-8") if path else inspect.getsource(strategy)
        return cls(
            "entry_point",
            (
                SourceFile(f"{dist}=={version}", ""),
                SourceFile(f"{strategy.__module__.replace('.', '/')}.py", text),
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SOURCE_SCHEMA_VERSION,
            "kind": self.kind,
            "sha256": self.sha256,
            "files": [
                {"path": f.path, "sha256": f.sha256, "text": f.text}
                for f in sorted(self.files, key=lambda f: f.path)
            ],
        }

    @classmethod
    def from_json(cls, data: Any) -> StrategySource:
        try:
            files = tuple(SourceFile(str(f["path"]), str(f["text"])) for f in data["files"])
            source = cls(str(data["kind"]), files)
        except (KeyError, TypeError):
            raise error(
                ErrorCode.STRATEGY_SOURCE_INVALID, "the stored strategy source is malformed"
            ) from None
        if data.get("sha256") != source.sha256:
            raise error(
                ErrorCode.STRATEGY_SOURCE_INVALID,
                "the stored strategy source does not hash to the sha256 it records",
            )
        return source

    # -- loading ---------------------------------------------------------------------------
    @property
    def module_name(self) -> str:
        return MODULE_PREFIX + self.sha256[:16]

    def write(self, folder: Path) -> Path:
        """Write the files under ``folder``; return what to import (a file or a package)."""
        for f in self.files:
            target = folder / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.text, encoding="utf-8")
        return folder / self.files[0].path if self.kind == "file" else folder

    def load(self) -> ModuleType:
        """Import this code under :attr:`module_name` (once per process; the same hash is the
        same code, so a second load returns the module already imported)."""
        if self.kind in ("builtin", "entry_point"):
            raise error(
                ErrorCode.STRATEGY_SOURCE_INVALID,
                "a built-in or an installed package's strategy is loaded where it is installed",
            )
        loaded = sys.modules.get(self.module_name)
        if loaded is not None:
            return loaded
        folder = Path(tempfile.mkdtemp(prefix="quantrun-strategy-"))
        return import_path(self.write(folder), self.module_name)


_BUILTIN_SOURCES: dict[type[Strategy], StrategySource] = {}
_BUILTIN_LOCK = threading.Lock()


def _builtin_source(strategy: type[Strategy]) -> StrategySource:
    with _BUILTIN_LOCK:  # inspect reads files through linecache, which is not thread-safe
        found = _BUILTIN_SOURCES.get(strategy)
        if found is None:
            text = inspect.getsource(strategy)
            name = f"{strategy.__module__}.{strategy.__name__}"
            found = StrategySource("builtin", (SourceFile(name, text),))
            _BUILTIN_SOURCES[strategy] = found
        return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(ErrorCode.STRATEGY_SOURCE_INVALID, f"{path.name} is not UTF-8 text") from None


def import_path(path: Path, module_name: str) -> ModuleType:
    """Import a ``.py`` file or a package folder as ``module_name``. Its failures propagate
    (the caller reports them: the checker in a child process, a run as STRATEGY_FAILED)."""
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            module_name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise error(ErrorCode.STRATEGY_SOURCE_INVALID, f"cannot import {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with _register_does_nothing():
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


@contextlib.contextmanager
def _register_does_nothing() -> Iterator[None]:
    """A user's file found by its classes may still decorate them with ``@register``: while it
    is imported, ``register`` only returns the class, so the built-ins' registry never holds
    user code (which would make it look like a built-in)."""
    from quantrun import strategies
    from quantrun.strategies import registry

    def keep(cls: Any) -> Any:
        return cls

    saved = registry.register, strategies.register
    registry.register = keep
    strategies.register = keep
    try:
        yield
    finally:
        registry.register, strategies.register = saved


def strategies_in(module: ModuleType) -> list[type[Strategy]]:
    """The :class:`Strategy` subclasses a module (or its package) defines, by id then version.
    Classes only imported into it (e.g. a built-in) do not count."""
    prefix = module.__name__
    found = []
    for module_name, loaded in list(sys.modules.items()):
        if module_name != prefix and not module_name.startswith(prefix + "."):
            continue
        for _name, value in vars(loaded).items():
            if (
                isinstance(value, type)
                and issubclass(value, Strategy)
                and value is not Strategy
                and value.__module__ == module_name
                and "id" in vars(value)
            ):
                found.append(value)
    unique = {id(cls): cls for cls in found}
    return sorted(unique.values(), key=lambda c: (str(c.id), str(getattr(c, "version", ""))))
