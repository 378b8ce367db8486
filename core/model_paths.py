"""Walking pydantic models by key path, for 'unknown key; did you mean ...' hints in error messages
(shared by the profile loader and the site-config loader)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside a field annotation (X, X | None, list[X], dict[str, X]...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = model_of(arg)
        if found is not None:
            return found
    return None
