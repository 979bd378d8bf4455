"""The example's views: public, guarded by the middleware, scoped, and DRF."""

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tekcify_auth import UserPayload
from tekcify_auth.django import HasScopes, auth_required


def _user(user: UserPayload) -> dict[str, Any]:
    return {
        "userId": user.user_id,
        "email": user.email,
        "scopes": list(user.scopes),
        "role": user.role,
    }


def index(request: HttpRequest) -> JsonResponse:
    """A public route."""
    return JsonResponse({"message": "Hello from the public route"})


def profile(request: HttpRequest) -> JsonResponse:
    """The authenticated user; ``JwtAuthMiddleware`` guards every ``/api`` path."""
    return JsonResponse({"user": _user(request.tekcify_user)})


@auth_required(scopes=["read:orders"])
def orders(request: HttpRequest) -> JsonResponse:
    """A route that also needs the ``read:orders`` scope (else 403 insufficient_scope)."""
    return JsonResponse({"userId": request.tekcify_user.user_id, "orders": []})


class DrfProfile(APIView):
    """The same profile as a DRF view, which needs the ``read:profile`` scope."""

    permission_classes = [HasScopes.with_scopes("read:profile")]

    def get(self, request: Request) -> Response:
        return Response({"user": _user(request.user.payload)})
