"""Bodies of ``/api/auth/account/social`` (the 2.2.12 client's ``SocialProvider``)."""

from __future__ import annotations

from .base import IsoDateTime, ResponseModel

__all__ = ["SocialProviderItem"]


class SocialProviderItem(ResponseModel):
    """``{id, provider, providerUserId, connectedAt}``: one connected upstream account."""

    id: str
    provider: str
    providerUserId: str
    connectedAt: IsoDateTime
