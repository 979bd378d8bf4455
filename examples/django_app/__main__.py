"""``python -m examples.django_app [command]``: Django's manage.py for this project.

Without a command it serves on 127.0.0.1:8003 (``PORT=...`` for another), without the
autoreloader.
"""

import os
import sys

from django.core.management import execute_from_command_line

#: Where ``python -m examples.django_app`` listens unless ``PORT`` says otherwise.
DEFAULT_PORT = 8003

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
command = sys.argv[1:] or [
    "runserver", f"127.0.0.1:{os.environ.get('PORT', DEFAULT_PORT)}", "--noreload"
]
execute_from_command_line([f"{sys.executable} -m examples.django_app", *command])
