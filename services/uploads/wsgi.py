"""gunicorn entry point: ``gunicorn services.uploads.wsgi:app``."""

import os

from libs.platform.runtime import serve
from services.uploads.app import create_app

app = serve("uploads", create_app, os.environ)
