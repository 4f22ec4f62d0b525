"""gunicorn entry point: ``gunicorn services.courses.wsgi:app``."""

import os

from libs.platform.runtime import serve
from services.courses.app import create_app

app = serve("courses", create_app, os.environ)
