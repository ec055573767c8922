"""Versioned prompt templates, shipped as package data.

Each ``<name>.yaml`` holds ``version``, ``system`` and ``user`` (``string.Template``
syntax, ``$field``). The version is part of the provider fingerprint and so of every
cache key: edit a prompt by adding a new file with a new version, never in place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from string import Template

import yaml

__all__ = ["PromptTemplate", "load_prompt"]

_NAME = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class PromptTemplate:
    version: str
    system: str
    user: Template

    def render(self, **fields: str) -> str:
        # substitute (not safe_substitute): a missing field is a bug, not a blank.
        return self.user.substitute(fields)


def load_prompt(name: str) -> PromptTemplate:
    """The template ``name`` (e.g. ``query_v1``); ValueError if absent or malformed."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"prompt name must match {_NAME.pattern}, got {name!r}")
    resource = resources.files(__package__).joinpath(f"{name}.yaml")
    if not resource.is_file():
        raise ValueError(f"no prompt template named {name!r}")
    document = yaml.safe_load(resource.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not all(
        isinstance(document.get(k), str) for k in ("version", "system", "user")
    ):
        raise ValueError(f"prompt {name!r} needs string fields version, system and user")
    return PromptTemplate(document["version"], document["system"], Template(document["user"]))
