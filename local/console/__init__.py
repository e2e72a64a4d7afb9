"""The local web console: static pages under ``/`` plus the local-only data they need.

``assets`` serves the three static files (no build step, no CDN); ``views`` builds what the
cloud API deliberately does not expose (signed approval links, LLM audit records, a cost summed
from those records). Both are reached only through ``local/server.py``.
"""
