"""A metric's labelled children, each looked up once.

prometheus-client's ``labels()`` validates the values and takes a lock on every call;
code that records on every request or every AWS call would pay that each time. For
metrics whose label values come from small fixed sets (methods, status codes, pools,
operations): a child is never removed, so keeping it is safe.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client.metrics import MetricWrapperBase

__all__ = ["LabelledChildren"]

_M = TypeVar("_M", bound=MetricWrapperBase)


class LabelledChildren(Generic[_M]):
    def __init__(self, metric: _M) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], _M] = {}

    def __call__(self, *values: str) -> _M:
        child = self._children.get(values)
        if child is None:
            # Threads may race here; labels() hands both the same child.
            child = self._children.setdefault(values, self._metric.labels(*values))
        return child
