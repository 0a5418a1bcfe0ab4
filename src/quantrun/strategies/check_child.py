"""The strategy checker's child process: ``python -P -m quantrun.strategies.check_child``,
started by :func:`quantrun.strategies.check.check_strategy`, never by hand.

stdin: one JSON object (``root``: the folder holding the copied code, ``target``: the file or
package to import, ``module``: the name to import it under, ``prefix``: what to put before a
path relative to ``root`` in messages, ``timeframe``, ``data``: an Arrow IPC file of the user's
bars or null, ``data_name``). stdout: one JSON event a line (``begin`` before a check that runs
user code, ``result`` after it, ``strategy``, ``bars``, ``timing``, ``internal``), ``done``
last. Before the user's code is imported, file descriptor 1 is pointed at stderr, so its prints
cannot corrupt the events; the events go to a private copy of the original stdout. The process
ends with ``os._exit`` so no thread or exit handler of the user's can keep it alive.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl
from pydantic import BaseModel

from quantrun.errors import ErrorCode
from quantrun.strategies import registry
from quantrun.strategies.base import Signals, Strategy
from quantrun.strategies.check import FAIL, OK, SKIP, located
from quantrun.strategies.source import import_path, strategies_in

E = ErrorCode
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
#: The seeded random walk: at most this many bars at the timeframe.
WALK_BARS = 2_000
WALK_SEED = 20240101
TIMING_BARS = 100_000
MINUTES_PER_DAY = 1440


class _Failed(Exception):
    """A check failed with ``code`` and ``message``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Frame:
    """Bars to check on, and how to name them in a message."""

    name: str  # "the random walk", "your data"
    bars: pl.DataFrame

    def cut(self, k: int) -> Frame:
        return Frame(f"the first {k:,} bar{'s' if k > 1 else ''} of {self.name}", self.bars.head(k))


class Checker:
    def __init__(self, spec: dict[str, Any], channel: IO[str]) -> None:
        self.spec = spec
        self.channel = channel
        self.root = Path(spec["root"])
        self.prefix = str(spec.get("prefix") or "")
        self.minutes = pl.DataFrame()

    # -- events ------------------------------------------------------------------------------
    def emit(self, **event: Any) -> None:
        self.channel.write(json.dumps(event, allow_nan=False, default=str) + "\n")
        self.channel.flush()

    def begin(self, check: str, cls: type[Strategy] | None = None) -> None:
        self.emit(event="begin", check=check, **_names(cls))

    def result(
        self,
        check: str,
        status: str,
        cls: type[Strategy] | None = None,
        code: ErrorCode | None = None,
        message: str = "",
    ) -> None:
        self.emit(
            event="result",
            check=check,
            status=status,
            code=None if code is None else str(code),
            message=message,
            **_names(cls),
        )

    def where(self, exc: BaseException) -> str:
        return located(exc, self.root, self.prefix)[0]

    # -- the checks --------------------------------------------------------------------------
    def run(self) -> None:
        builtin_ids = _quiet_registry()
        self.begin("import")
        try:
            module = import_path(Path(self.spec["target"]), str(self.spec["module"]))
        except BaseException as exc:  # the user's code: anything, even exit
            self.result("import", FAIL, code=E.STRATEGY_IMPORT_FAILED, message=self.where(exc))
            return
        self.result("import", OK)
        self.begin("found")
        classes = strategies_in(module)
        if not classes:
            message = _none_found(module)
            if self.prefix:
                message += " (a package's strategies are those its __init__.py imports)"
            self.result("found", FAIL, code=E.STRATEGY_NONE_FOUND, message=message)
            return
        names = ", ".join(f"{_names(c)['strategy']} ({c.__name__})" for c in classes)
        self.result("found", OK, message=names)
        for cls in classes:
            self.emit(event="strategy", info=_describe(cls))
        frames = self.frames()
        timeframe = str(self.spec["timeframe"])
        bars: dict[str, Any] = {
            "timeframe": timeframe,
            "random_walk": {"bars": frames[0].bars.height, "seed": WALK_SEED},
        }
        if len(frames) > 1:
            bars["data"] = {"name": self.spec.get("data_name"), "bars": frames[1].bars.height}
        self.emit(event="bars", bars=bars)
        claims: dict[tuple[Any, Any], list[str]] = {}
        for cls in classes:
            key = (_names(cls)["strategy"], _names(cls)["version"])
            claims.setdefault(key, []).append(cls.__name__)
        for cls in classes:
            self.check_ids(cls, claims, builtin_ids)
            self.check_one(cls, frames)

    def frames(self) -> list[Frame]:
        from quantrun.data.demo import demo_bars
        from quantrun.data.resample import resample
        from quantrun.data.timeframe import Timeframe

        tf = Timeframe.parse(str(self.spec["timeframe"]))
        minutes = tf.micros // 60_000_000
        days = min(730, max(TIMING_BARS // MINUTES_PER_DAY + 1, -(-WALK_BARS * minutes // 1440)))
        self.minutes = demo_bars(days, WALK_SEED)
        walk = resample(self.minutes, tf).bars.head(WALK_BARS)
        frames = [Frame(f"the random walk ({walk.height:,} {tf.name} bars)", walk)]
        if self.spec.get("data"):
            bars = pl.read_ipc(self.spec["data"])
            name = f"{self.spec.get('data_name') or 'your data'} ({bars.height:,} {tf.name} bars)"
            frames.append(Frame(name, bars))
        return frames

    def check_ids(
        self, cls: type[Strategy], claims: dict[tuple[Any, Any], list[str]], builtin_ids: set[str]
    ) -> None:
        self.begin("ids", cls)
        names = _names(cls)
        failures = []
        problems = _id_problems(cls)
        if problems:
            failures.append((E.STRATEGY_ID_INVALID, "; ".join(problems)))
        if names["strategy"] in builtin_ids:
            failures.append(
                (E.STRATEGY_ID_BUILTIN, f"{names['strategy']!r} is the id of a built-in strategy")
            )
        same = claims[(names["strategy"], names["version"])]
        if len(same) > 1:
            message = f"classes {', '.join(same)} all claim this id and version"
            failures.append((E.STRATEGY_ID_DUPLICATE, message))
        for code, message in failures:
            self.result("ids", FAIL, cls, code, message)
        if not failures:
            self.result("ids", OK, cls)

    def check_one(self, cls: type[Strategy], frames: list[Frame]) -> None:
        later = ("signals", "deterministic", "lookahead", "warmup", "timing")
        self.begin("params", cls)
        try:
            params = self.params(cls)
        except _Failed as failed:
            self.result("params", FAIL, cls, failed.code, failed.message)
            for check in later:
                self.result(check, SKIP, cls, message="needs a valid parameter model")
            return
        self.result("params", OK, cls, message=_params_summary(params))

        self.begin("signals", cls)
        try:
            full = self.check_signals(cls, params, frames)
        except _Failed as failed:
            self.result("signals", FAIL, cls, failed.code, failed.message)
            for check in later[1:]:
                self.result(check, SKIP, cls, message="needs valid signals")
            return
        self.result("signals", OK, cls, message="on " + " and ".join(f.name for f in frames))

        self.begin("deterministic", cls)
        deterministic = self.run_check(
            "deterministic", cls, lambda: self.check_deterministic(cls, params, frames, full)
        )
        self.begin("lookahead", cls)
        if deterministic:
            self.run_check(
                "lookahead", cls, lambda: self.check_lookahead(cls, params, frames, full)
            )
        else:
            self.result("lookahead", SKIP, cls, message="needs deterministic signals")
        self.begin("warmup", cls)
        self.run_check("warmup", cls, lambda: _check_warmup(full[0]))
        self.begin("timing", cls)
        self.run_check("timing", cls, lambda: self.check_timing(cls, params))

    def run_check(self, check: str, cls: type[Strategy], body: Any) -> bool:
        try:
            message = body()
        except _Failed as failed:
            self.result(check, FAIL, cls, failed.code, failed.message)
            return False
        self.result(check, OK, cls, message=message or "")
        return True

    # -- params ------------------------------------------------------------------------------
    def params(self, cls: type[Strategy]) -> BaseModel:
        model = getattr(cls, "Params", None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise _Failed(
                E.STRATEGY_PARAMS_INVALID_MODEL,
                "Params is not a pydantic model (subclass quantrun.strategies.base.StrategyParams)",
            )
        problems = []
        if model.model_config.get("frozen") is not True:
            problems.append("it is not frozen (StrategyParams sets frozen=True)")
        if model.model_config.get("extra") != "forbid":
            problems.append("it accepts unknown names (StrategyParams sets extra='forbid')")
        try:
            schema = model.model_json_schema()
        except BaseException as exc:  # a custom type's schema is user code
            raise _Failed(
                E.STRATEGY_PARAMS_INVALID_MODEL, f"Params has no JSON schema: {self.where(exc)}"
            ) from None
        properties = schema.get("properties", {})
        for name, info in model.model_fields.items():
            if info.is_required():
                problems.append(f"{name!r} has no default")
            problems.extend(_field_problems(name, properties.get(name, {}), schema))
        if problems:
            raise _Failed(E.STRATEGY_PARAMS_INVALID_MODEL, "Params: " + "; ".join(problems))
        try:
            defaults = model()
            # pydantic does not validate defaults: a default outside its own bounds shows here.
            model.model_validate(defaults.model_dump())
            json.dumps(defaults.model_dump(mode="json"), allow_nan=False)
        except BaseException as exc:  # validators are user code
            raise _Failed(
                E.STRATEGY_PARAMS_INVALID_MODEL,
                f"Params: the defaults do not validate: {self.where(exc)}",
            ) from None
        return defaults

    # -- signals -----------------------------------------------------------------------------
    def signals(self, cls: type[Strategy], params: BaseModel, frame: Frame) -> Signals:
        """``cls.signals`` on a copy of ``frame``'s bars: a _Failed for a raise or a bad
        output."""
        try:
            out = cls.signals(frame.bars.clone(), params)
        except BaseException as exc:  # the user's code: anything, even exit
            if _refused_by_signals(exc):
                raise _Failed(
                    E.STRATEGY_SIGNALS_INVALID,
                    f"on {frame.name}: Signals refused the output, {self.where(exc)}",
                ) from None
            raise _Failed(E.STRATEGY_FAILED, f"on {frame.name}: {self.where(exc)}") from None
        problem = _output_problem(out, frame.bars.height)
        if problem is not None:
            raise _Failed(E.STRATEGY_SIGNALS_INVALID, f"on {frame.name}: {problem}")
        return out

    def check_signals(
        self, cls: type[Strategy], params: BaseModel, frames: list[Frame]
    ) -> list[Signals]:
        method = inspect.getattr_static(cls, "signals", None)
        if method is Strategy.__dict__["signals"]:
            raise _Failed(E.STRATEGY_SIGNALS_INVALID, "the class does not define signals")
        if not isinstance(method, classmethod | staticmethod):
            raise _Failed(
                E.STRATEGY_SIGNALS_INVALID,
                "signals must be a @classmethod taking (bars, params)",
            )
        full = [self.signals(cls, params, frame) for frame in frames]
        for k in (1, 2):  # a run may have very few bars
            if frames[0].bars.height > k:
                self.signals(cls, params, frames[0].cut(k))
        return full

    def check_deterministic(
        self,
        cls: type[Strategy],
        params: BaseModel,
        frames: list[Frame],
        full: list[Signals],
    ) -> str:
        for frame, first in zip(frames, full, strict=True):
            again = self.signals(cls, params, frame)
            difference = _difference(first, again, frame.bars.height)
            if difference is not None:
                raise _Failed(
                    E.STRATEGY_NONDETERMINISTIC,
                    f"two calls on {frame.name} differ: {difference} the first time, "
                    f"{_value_in(again, difference)} the second",
                )
        return "two calls on the same bars give the same signals"

    def check_lookahead(
        self,
        cls: type[Strategy],
        params: BaseModel,
        frames: list[Frame],
        full: list[Signals],
    ) -> str:
        tried = 0
        for frame, whole in zip(frames, full, strict=True):
            n = frame.bars.height
            for k in _cuts(n):
                tried += 1
                part = self.signals(cls, params, frame.cut(k))
                difference = _difference(whole, part, k)
                if difference is not None:
                    raise _Failed(
                        E.STRATEGY_LOOKAHEAD,
                        f"on {frame.name}, {difference}, but {_value_in(part, difference)} "
                        f"when only the first {k:,} bar{'s are' if k > 1 else ' is'} given: "
                        f"bar {difference.bar:,} depends on later bars",
                    )
        return f"{tried} cuts: signals on the first k bars equal the first k of all"

    def check_timing(self, cls: type[Strategy], params: BaseModel) -> str:
        bars = self.minutes.head(TIMING_BARS).with_columns(
            bar_count=pl.lit(1, pl.Int64), partial=pl.lit(False)
        )
        frame = Frame(f"{bars.height:,} bars", bars)
        started = time.perf_counter()
        self.signals(cls, params, frame)
        elapsed = time.perf_counter() - started
        per_100k = elapsed * TIMING_BARS / max(bars.height, 1)
        self.emit(
            event="timing",
            seconds_per_100k_bars=round(per_100k, 6),
            bars=bars.height,
            **_names(cls),
        )
        return f"{per_100k:.3f} s per 100,000 bars"


# -- helpers ----------------------------------------------------------------------------------
def _names(cls: type[Strategy] | None) -> dict[str, Any]:
    if cls is None:
        return {"strategy": None, "version": None}
    strategy_id = vars(cls).get("id", getattr(cls, "id", None))
    version = getattr(cls, "version", None)
    return {
        "strategy": strategy_id if isinstance(strategy_id, str) else cls.__name__,
        "version": version if isinstance(version, str) else None,
    }


def _quiet_registry() -> set[str]:
    """Load the built-ins (their ids), then make ``register`` a no-op: a user file that
    registers its classes must not clash with them in the registry; the checker reports it."""
    builtin_ids = {s.id for s in registry.all_strategies()}

    def keep(cls: Any) -> Any:
        return cls

    import quantrun.strategies as package

    setattr(registry, "register", keep)  # noqa: B010
    setattr(package, "register", keep)  # noqa: B010
    return builtin_ids


def _none_found(module: Any) -> str:
    without_id = sorted(
        name
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, Strategy)
        and value is not Strategy
        and value.__module__ == module.__name__
    )
    if len(without_id) == 1:
        return f"{without_id[0]} subclasses Strategy but sets no id of its own"
    if without_id:
        return f"{', '.join(without_id)} subclass Strategy but set no id of their own"
    return "the code defines no subclass of quantrun.strategies.base.Strategy"


def _id_problems(cls: type[Strategy]) -> list[str]:
    problems = []
    strategy_id = vars(cls).get("id")
    if not (isinstance(strategy_id, str) and ID_PATTERN.fullmatch(strategy_id)):
        problems.append(
            f"id {strategy_id!r} is not lower-case letters, digits and underscores starting "
            "with a letter (at most 64)"
        )
    version = getattr(cls, "version", None)
    if not (isinstance(version, str) and VERSION_PATTERN.fullmatch(version)):
        problems.append(
            f"version {version!r} is not a string of letters, digits, '.', '_' or '-' (at most 32)"
        )
    description = getattr(cls, "description", None)
    if not (isinstance(description, str) and description.strip() and "\n" not in description):
        problems.append("description is not one non-empty line")
    return problems


def _describe(cls: type[Strategy]) -> dict[str, Any]:
    names = _names(cls)
    info: dict[str, Any] = {
        "id": names["strategy"],
        "version": names["version"],
        "versions": [names["version"]],
        "description": getattr(cls, "description", None),
        "params": [],
    }
    with contextlib.suppress(BaseException):  # a broken Params: the params check says so
        info |= registry.describe(cls)
    info["versions"] = [names["version"]]
    info["class_name"] = cls.__name__
    return json.loads(json.dumps(info, default=str))  # type: ignore[no-any-return]


def _resolve(prop: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    refs = [prop.get("$ref")] + [p.get("$ref") for p in prop.get("allOf", [])]
    for ref in refs:
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return {**schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {}), **prop}
    return prop


def _field_problems(name: str, prop: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    prop = _resolve(prop, schema)
    if "enum" in prop or "const" in prop:
        return []
    kind = prop.get("type")
    if kind in ("integer", "number"):
        low = "minimum" in prop or "exclusiveMinimum" in prop
        high = "maximum" in prop or "exclusiveMaximum" in prop
        if low and high:
            return []
        missing = " and ".join(w for w, ok in (("lower", low), ("upper", high)) if not ok)
        return [f"{name!r} ({kind}) has no {missing} bound (Field(ge=..., le=...))"]
    if kind == "boolean":
        return []
    if kind == "string":
        return [f"{name!r} is a free string; give its choices (Literal[...])"]
    if kind:
        shown = f"of type {kind}"
    else:
        shown = "a union of types" if "anyOf" in prop else "of an unknown type"
    return [
        f"{name!r} is {shown}; a parameter is a bounded number, a boolean or a string with choices"
    ]


def _params_summary(params: BaseModel) -> str:
    values = params.model_dump(mode="json")
    return "defaults " + (", ".join(f"{k}={v}" for k, v in values.items()) or "(none)")


def _refused_by_signals(exc: BaseException) -> bool:
    """Did ``Signals(...)`` itself refuse what the strategy built (dtype, indicator shape)?"""
    if not isinstance(exc, TypeError):
        return False
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    if not frames:
        return False
    last = frames[-1].f_code
    return (
        last.co_name == "__post_init__"
        and last.co_filename == sys.modules[Signals.__module__].__file__
    )


def _output_problem(out: Any, n: int) -> str | None:
    if not isinstance(out, Signals):
        return f"signals returned {type(out).__name__}, not Signals"
    target = out.target
    if not isinstance(target, np.ndarray) or target.dtype != np.int8:
        return f"the target is {getattr(target, 'dtype', type(target).__name__)}, not int8"
    if target.shape != (n,):
        return f"the target has shape {target.shape} for {n:,} bars"
    bad = np.flatnonzero((target < -1) | (target > 1))
    if bad.size:
        i = int(bad[0])
        return f"the target is {int(target[i])} at bar {i} ({bad.size:,} bars outside -1, 0, +1)"
    if not isinstance(out.indicators, dict):
        return f"the indicators are a {type(out.indicators).__name__}, not a dict"
    for name, values in out.indicators.items():
        if not (isinstance(name, str) and name):
            return f"an indicator is named {name!r}, not a non-empty string"
        if not isinstance(values, np.ndarray) or values.dtype != np.float64:
            kind = getattr(values, "dtype", type(values).__name__)
            return f"indicator {name!r} is {kind}, not float64"
        if values.shape != (n,):
            return f"indicator {name!r} has shape {values.shape} for {n:,} bars"
    return None


@dataclass(frozen=True)
class _Difference:
    """Where two signals first differ: ``what`` (target or an indicator) at ``bar``."""

    what: str
    bar: int
    value: Any

    def __str__(self) -> str:
        return f"{self.what} at bar {self.bar:,} is {_show(self.value)}"


def _show(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return repr(value)


def _first_difference(a: np.ndarray, b: np.ndarray) -> int | None:
    same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
    bad = np.flatnonzero(~same)
    return int(bad[0]) if bad.size else None


def _difference(whole: Signals, part: Signals, k: int) -> _Difference | None:
    """The first difference between ``part`` and the first ``k`` values of ``whole``."""
    i = _first_difference(whole.target[:k], part.target)
    if i is not None:
        return _Difference("the target", i, int(whole.target[i]))
    if whole.indicators.keys() != part.indicators.keys():
        names = sorted(set(whole.indicators) ^ set(part.indicators))
        return _Difference(f"the set of indicators ({', '.join(names)})", 0, "different")
    for name, values in whole.indicators.items():
        i = _first_difference(values[:k], part.indicators[name])
        if i is not None:
            return _Difference(f"indicator {name!r}", i, float(values[i]))
    return None


def _value_in(signals: Signals, difference: _Difference) -> str:
    if difference.what == "the target":
        return _show(int(signals.target[difference.bar]))
    name = difference.what.removeprefix("indicator ").strip("'")
    if name in signals.indicators:
        return _show(float(signals.indicators[name][difference.bar]))
    return "different"


def _cuts(n: int) -> list[int]:
    """Where the look-ahead test cuts ``n`` bars: the first bars and spread over the rest."""
    picks = {1, 2, 3, n // 10, n // 4, n // 3, n // 2, 2 * n // 3, 9 * n // 10, n - 1}
    return sorted(k for k in picks if 1 <= k < n)


def _check_warmup(signals: Signals) -> str:
    """An indicator that starts with exact zeros and is never exactly zero again was filled
    with zeros while its window filled (a warming indicator is NaN). One that returns to zero
    later (a position, a count) passes."""
    if not signals.indicators:
        return "no indicators"
    for name, values in signals.indicators.items():
        zero = values == 0.0
        if not zero.size or not zero[0] or zero.all():
            continue
        lead = int(np.argmin(zero))
        if not zero[lead:].any():
            raise _Failed(
                E.STRATEGY_WARMUP,
                f"indicator {name!r} is 0 on the first {lead:,} bar{'s' if lead > 1 else ''} "
                "of the random walk and never again: NaN, not 0, while its window fills",
            )
    return "indicators are NaN, not 0, while they warm up"


def main() -> None:
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the user's prints go to stderr, never into the events
    status = 0
    try:
        spec = json.loads(sys.stdin.read())
        checker = Checker(spec, channel)
        try:
            checker.run()
            checker.emit(event="done")
        except Exception as exc:  # a bug of the checker's own
            checker.emit(event="internal", message=f"{type(exc).__name__}: {exc}")
            status = 1
        channel.flush()
    finally:
        os._exit(status)


if __name__ == "__main__":
    main()
