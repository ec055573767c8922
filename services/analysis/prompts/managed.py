"""A Bedrock Prompt Management prompt (a GetPrompt answer) as a ``PromptTemplate``.

Pure: no SDK, no network. The variant used is the prompt's ``defaultVariant`` (or its
only variant). A CHAT variant gives the system text (joined ``system`` blocks) and
exactly one user message; a TEXT variant gives the user text and no system text.
Bedrock writes variables as ``{{name}}``; they become ``$name`` fields of the same
``string.Template`` the repository templates use, and a literal ``$`` stays literal.
The system text is sent as written (variables are rendered in the user turn only).

A prompt that names a variable the service does not supply, or lacks one the step
needs (the analysis prompt must carry ``{{rows}}``), is refused here — at fetch time —
rather than failing every request that renders it.

The version that enters the cache key is ``bedrock:<id>:<version>``. Numbered versions
are immutable in Bedrock; the DRAFT is not, so its version also carries a digest of
the text, and an edited draft misses the old cache entries like a new version would.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from string import Template
from typing import Any

from services.analysis.prompts import PromptTemplate

__all__ = ["ManagedPromptInvalid", "managed_template"]

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class ManagedPromptInvalid(ValueError):
    """The fetched prompt cannot be used as this step's template."""


def _variant(response: Mapping[str, Any]) -> Mapping[str, Any]:
    variants = response.get("variants") or []
    wanted = response.get("defaultVariant")
    if wanted:
        for variant in variants:
            if variant.get("name") == wanted:
                return dict(variant)
        raise ManagedPromptInvalid(f"default variant {wanted!r} is not among the variants")
    if len(variants) != 1:
        raise ManagedPromptInvalid(f"no default variant and {len(variants)} variants")
    return dict(variants[0])


def _texts(blocks: Any) -> str:
    return "\n".join(str(b["text"]) for b in blocks or [] if isinstance(b, dict) and "text" in b)


def _system_and_user(variant: Mapping[str, Any]) -> tuple[str, str]:
    kind = str(variant.get("templateType", ""))
    configuration = variant.get("templateConfiguration") or {}
    if kind == "TEXT":
        return "", str((configuration.get("text") or {}).get("text", ""))
    if kind == "CHAT":
        chat = configuration.get("chat") or {}
        messages = chat.get("messages") or []
        if len(messages) != 1 or messages[0].get("role") != "user":
            raise ManagedPromptInvalid("a CHAT prompt must hold exactly one user message")
        return _texts(chat.get("system")), _texts(messages[0].get("content"))
    raise ManagedPromptInvalid(f"template type {kind or '(none)'} is not TEXT or CHAT")


def _version(response: Mapping[str, Any], system: str, user: str) -> str:
    prompt_id = str(response.get("id", ""))
    version = str(response.get("version", ""))
    if not prompt_id or not version:
        raise ManagedPromptInvalid("the answer has no prompt id or version")
    if version == "DRAFT":
        digest = hashlib.sha256(f"{system}\0{user}".encode()).hexdigest()[:12]
        version = f"DRAFT-{digest}"
    return f"bedrock:{prompt_id}:{version}"


def managed_template(
    response: Mapping[str, Any], *, supplied: Collection[str], required: Collection[str]
) -> PromptTemplate:
    """The template of a GetPrompt answer; ManagedPromptInvalid if it cannot serve."""
    system, user = _system_and_user(_variant(response))
    if not user.strip():
        raise ManagedPromptInvalid("the prompt's user text is empty")
    template = Template(_VARIABLE.sub(r"${\1}", user.replace("$", "$$")))
    named = set(template.get_identifiers())
    unknown = sorted(named - set(supplied))
    missing = sorted(set(required) - named)
    if unknown:
        raise ManagedPromptInvalid(f"unknown variables {unknown} (supplied: {sorted(supplied)})")
    if missing:
        raise ManagedPromptInvalid(f"the prompt must use the variables {missing}")
    return PromptTemplate(_version(response, system, user), system, template)
