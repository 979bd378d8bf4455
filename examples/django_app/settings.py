"""Settings of the example project: just enough Django, and ``TEKCIFY_AUTH``."""

import os

DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example-only")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "tekcify_auth.django.JwtAuthMiddleware",
]
ROOT_URLCONF = "examples.django_app.urls"
WSGI_APPLICATION = "examples.django_app.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}  # the tokens carry all this service needs
USE_TZ = True

TEKCIFY_AUTH = {
    # The auth server's JWT_ACCESS_SECRET; the default is for local development only.
    "SECRET": os.environ.get("JWT_ACCESS_SECRET", "dev-secret-change-me"),
    "GET_USER_INFO": "examples.django_app.users.get_user_info",
    "PROTECTED_PATHS": ["/api"],
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tekcify_auth.django.JwtAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tekcify_auth.django.HasScopes"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
