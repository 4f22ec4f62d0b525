"""gunicorn entry point: ``gunicorn services.auth.wsgi:app``."""

import os

from libs.platform.runtime import serve
from services.auth.app import create_app

app = serve("auth", create_app, os.environ)
