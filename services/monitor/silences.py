"""Silences: label matchers that mute notifications until an end time.

A silence mutes matching alerts' notifications; the alerts still show (with
``silenced_by``) in ListAlerts and WatchAlerts. Expired silences are forgotten.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from services.common.errors import FieldViolation, InvalidInput
from services.monitor.errors import SilenceNotFound, TooManySilences

__all__ = ["MAX_SILENCE_S", "Matcher", "Silence", "Silences"]

MAX_SILENCE_S = 30 * 86_400.0
_MAX_MATCHERS = 16
_MAX_TEXT = 512


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    regex: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.regex:
            return re.fullmatch(self.value, actual) is not None
        return actual == self.value


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    author: str
    reason: str

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.starts_at <= now < self.ends_at and all(
            m.matches(labels) for m in self.matchers
        )


class Silences:
    def __init__(
        self, clock: Callable[[], float], rng: random.Random, *, max_silences: int = 1_000
    ) -> None:
        self._clock = clock
        self._rng = rng
        self._max = max_silences
        self._silences: dict[str, Silence] = {}

    def build(
        self,
        matchers: Sequence[Matcher],
        *,
        ends_at: float,
        duration_s: float,
        author: str,
        reason: str,
    ) -> Silence:
        """A new, validated silence (not yet active); InvalidInput naming every problem."""
        now = self._clock()
        end = ends_at if ends_at > 0 else now + duration_s
        _validate(matchers, ends_at, duration_s, end, now, author, reason)
        self._prune(now)
        if len(self._silences) >= self._max:
            raise TooManySilences(f"at most {self._max} active silences")
        return Silence(
            id=f"{self._rng.getrandbits(64):016x}",
            matchers=tuple(matchers),
            starts_at=now,
            ends_at=end,
            author=author.strip(),
            reason=reason.strip(),
        )

    def now(self) -> float:
        return self._clock()

    def add(self, silence: Silence) -> None:
        self._silences[silence.id] = silence

    def create(
        self,
        matchers: Sequence[Matcher],
        *,
        ends_at: float,
        duration_s: float,
        author: str,
        reason: str,
    ) -> Silence:
        silence = self.build(
            matchers, ends_at=ends_at, duration_s=duration_s, author=author, reason=reason
        )
        self.add(silence)
        return silence

    def replace_all(self, silences: Sequence[Silence]) -> None:
        """Adopt the shared set (another replica's creations and deletions)."""
        self._silences = {s.id: s for s in silences[: self._max]}
        self._prune(self._clock())

    def delete(self, silence_id: str) -> Silence:
        silence = self._silences.pop(silence_id, None)
        if silence is None:
            raise SilenceNotFound(f"no active silence {silence_id!r}")
        return silence

    def active(self) -> list[Silence]:
        self._prune(self._clock())
        return sorted(self._silences.values(), key=lambda s: (s.ends_at, s.id))

    def muting(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        """Ids of the active silences that mute an alert with ``labels``."""
        now = self._clock()
        return tuple(s.id for s in self.active() if s.mutes(labels, now))

    def _prune(self, now: float) -> None:
        for key in [k for k, s in self._silences.items() if s.ends_at <= now]:
            del self._silences[key]


def _validate(
    matchers: Sequence[Matcher],
    ends_at: float,
    duration_s: float,
    end: float,
    now: float,
    author: str,
    reason: str,
) -> None:
    problems: list[FieldViolation] = []
    if not matchers:
        problems.append(FieldViolation("matchers", "at least one matcher is required"))
    if len(matchers) > _MAX_MATCHERS:
        problems.append(FieldViolation("matchers", f"at most {_MAX_MATCHERS} matchers"))
    for i, matcher in enumerate(matchers[:_MAX_MATCHERS]):
        if not matcher.name.strip() or len(matcher.name) > 128:
            problems.append(FieldViolation(f"matchers[{i}].name", "must have 1-128 characters"))
        if len(matcher.value) > _MAX_TEXT:
            problems.append(FieldViolation(f"matchers[{i}].value", "longer than 512 characters"))
        elif matcher.regex:
            try:
                re.compile(matcher.value)
            except re.error as exc:
                problems.append(FieldViolation(f"matchers[{i}].value", f"bad regex: {exc}"))
    if (ends_at > 0) == (duration_s > 0):
        problems.append(
            FieldViolation("ends_at_unix", "give exactly one of ends_at_unix and duration_seconds")
        )
    elif not now < end <= now + MAX_SILENCE_S:
        problems.append(FieldViolation("ends_at_unix", "must be in the future, within 30 days"))
    for name, text in (("author", author), ("reason", reason)):
        if not text.strip() or len(text) > _MAX_TEXT:
            problems.append(FieldViolation(name, "is required (at most 512 characters)"))
    if problems:
        raise InvalidInput(problems)
