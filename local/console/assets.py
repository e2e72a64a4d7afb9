"""The console's static files, and how the page gets an access token without a login screen.

The page calls the same token-protected API as ``curl`` does, with ``Authorization: Bearer``. The
server mints a token for its ``console`` client and puts it into ``index.html`` (a ``<meta>`` tag
read by ``console.js``) only when it listens on a loopback address *and* the request's ``Host`` is
a loopback name: anyone who can load that page can already mint one with ``python -m local token``
on this machine, and the ``Host`` check stops a DNS-rebinding page from getting it. Bound anywhere
else, the page asks for a token and keeps it in ``sessionStorage``. The page's CSP allows only its
own script and style (no inline code, no eval, Trusted Types on), and it is never cached or framed.
"""

from __future__ import annotations

import html
import ipaddress
from pathlib import Path

ASSET_DIR = Path(__file__).resolve().parent
#: URL path → (file, content type). Nothing else is ever read from disk.
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/console/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/console/console.css": ("console.css", "text/css; charset=utf-8"),
    "/console/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
TOKEN_PLACEHOLDER = "{{API_TOKEN}}"  # noqa: S105 - where the token goes, not a token
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'"
)
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def host_is_loopback(host_header: str) -> bool:
    """``Host: 127.0.0.1:8000`` / ``localhost`` / ``[::1]:8000`` (port ignored)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host in _LOOPBACK_NAMES


def asset(path: str, *, token: str | None) -> tuple[int, dict[str, str], bytes]:
    """The file for ``path``; ``index.html`` carries ``token`` (or nothing: the page then asks)."""
    name, content_type = ASSETS[path]
    body = (ASSET_DIR / name).read_bytes()
    if name == "index.html":
        body = body.replace(TOKEN_PLACEHOLDER.encode(), html.escape(token or "", quote=True).encode())
    return (
        200,
        {
            "Content-Type": content_type,
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
        },
        body,
    )
