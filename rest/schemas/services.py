"""Bodies of `/services`."""

from __future__ import annotations

from pydantic import Field

from rest.schemas.common import ApiModel, Name, OutModel, ServiceCode, UniqueTags, patch_model


class ServiceIn(ApiModel):
    """A service the company offers."""

    code: ServiceCode
    name: Name
    required_skills: UniqueTags = Field(default_factory=list)


ServicePatch = patch_model("ServicePatch", ServiceIn)


class ServiceOut(OutModel):
    """A stored service."""

    id: int
    code: str
    name: str
    required_skills: list[str]
