"""gunicorn entry point: ``gunicorn services.agent.wsgi:app``."""

import os

from libs.platform.runtime import serve
from services.agent.app import create_app

app = serve("agent", create_app, os.environ)
