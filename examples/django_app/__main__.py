"""``python -m examples.django_app <command>``: Django's manage.py for this project."""

import os
import sys

from django.core.management import execute_from_command_line

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
execute_from_command_line([f"{sys.executable} -m examples.django_app", *sys.argv[1:]])
