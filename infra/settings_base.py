"""The base of every settings model: unknown keys are errors and settings never change."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

NAMESPACE = "smack"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
