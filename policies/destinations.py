"""Destinations a policy allows (policy section ``destinations``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DestinationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["enclave", "external_api"]
    region: str = Field(description="cloud region id or jurisdiction code where the destination runs")
    url: str | None = None
    constraints: dict[str, object] = Field(default_factory=dict)
