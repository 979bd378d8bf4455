"""The Express example of ``@tekcify/auth-backend``'s README, as a minimal Django project.

Run it from the repository root (no manage.py needed)::

    JWT_ACCESS_SECRET=... python -m examples.django_app runserver 127.0.0.1:8000
    # or under a WSGI server:
    JWT_ACCESS_SECRET=... waitress-serve --port 8000 examples.django_app.wsgi:application

``/`` is public; everything under ``/api`` needs a Tekcify access token
(``JwtAuthMiddleware`` with ``PROTECTED_PATHS``); ``/api/orders`` also needs the
``read:orders`` scope (``auth_required``); ``/api/drf/profile`` is a Django REST
framework view (``JwtAuthentication`` and ``HasScopes``).
"""
