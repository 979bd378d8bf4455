"""The Express example of ``@tekcify/auth-backend``'s README, as a minimal Django project.

With the auth server running (``make run``), run it from the repository root on port 8003
(``PORT=...`` for another; no manage.py needed)::

    JWT_ACCESS_SECRET="$(cat .tekcify/jwt_access_secret)" python -m examples.django_app
    # or under a WSGI server:
    waitress-serve --port 8003 examples.django_app.wsgi:application

``/`` is public; everything under ``/api`` needs a Tekcify access token
(``JwtAuthMiddleware`` with ``PROTECTED_PATHS``); ``/api/orders`` also needs the
``read:orders`` scope (``auth_required``); ``/api/drf/profile`` is a Django REST
framework view (``JwtAuthentication`` and ``HasScopes``, which needs ``read:profile``).
Who the token's user is comes from the auth server (``users.py``: ``ServerUserInfo`` at
``$AUTH_SERVER_URL``, default http://localhost:7001): a deleted account gets 401 ``User
not found``.
"""
