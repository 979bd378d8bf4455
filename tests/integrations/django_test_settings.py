"""Django settings for the Django and DRF integration tests, configured on import.

pytest-django is not used: test modules import this module first, and each test picks
its URLconf, middleware and ``TEKCIFY_AUTH`` with ``override_settings``.
"""

import django
from django.conf import settings

SECRET = "django-test-secret"

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="django-insecure-only-for-tests",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
        ],
        MIDDLEWARE=[],
        ROOT_URLCONF=None,
        DATABASES={},
        USE_TZ=True,
        TEKCIFY_AUTH={"SECRET": SECRET},
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": ["tekcify_auth.django.JwtAuthentication"],
            "DEFAULT_PERMISSION_CLASSES": [],
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        },
    )
    django.setup()
