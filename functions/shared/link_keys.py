"""Versioned approval-link keys: a key ring, signatures that name their key, a refresh-once cache.

A link's signature is ``v1-<kid>-<mac>``: HMAC-SHA256 under key ``kid`` over (version, kid,
approval id, approver, expiry), in URL-safe characters only (a link-finder in a mail client or a
test's pattern sees one token). Naming the key lets the signing secret rotate without killing
pending links: links are signed with the ring's *current* key and verified with the key they name,
and a key stays in the ring until every link it signed has expired (``KeyRing.rotated``).

The secret holds either a key ring (JSON, written by the rotation Lambda,
``functions/api/rotate_link_keys.py``) or a plain string: what CloudFormation generated before the
first rotation, read as a one-key ring whose key id is ``k0``. A link signed before key ids existed
carries a bare MAC; it is accepted with ``k0`` while the ring holds it (until its links expired),
so the change to versioned links kills no pending approval.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, StringConstraints, model_validator

VERSION = "v1"
#: The key id of a plain-string secret (the one CloudFormation generates), and of bare legacy MACs.
LEGACY_KID = "k0"
#: Key ids are ``k`` + digits (``k0``, ``k20261207210500``): short and safe in a URL.
KID_PATTERN = r"k[0-9]{1,20}"
#: A container refreshes its cached ring for an unknown key id at most this often: a link naming a
#: key minted by a rotation after the cache was filled works at once, while a flood of made-up ids
#: costs at most one Secrets Manager call per interval.
REFRESH_INTERVAL_S = 5.0

KeyId = Annotated[str, StringConstraints(pattern=f"^{KID_PATTERN}$")]


class LinkKey(BaseModel):
    secret: SecretStr = Field(repr=False)
    created_at: str | None = None  # ISO 8601 UTC; None for the key CloudFormation generated
    #: When it stopped signing (a rotation made another key current); None while current.
    retired_at: str | None = None


class KeyRing(BaseModel):
    current: KeyId
    keys: dict[KeyId, LinkKey]

    @model_validator(mode="after")
    def _current_is_in_the_ring(self) -> KeyRing:
        if self.current not in self.keys:
            raise ValueError(f"the current key {self.current} is not in the ring")
        if not all(key.secret.get_secret_value() for key in self.keys.values()):
            raise ValueError("a key of the ring is empty")
        return self

    def to_secret_string(self) -> str:
        """The ring as the secret stores it (the only place key material is serialized)."""
        return json.dumps(
            {
                "current": self.current,
                "keys": {
                    kid: {
                        "secret": key.secret.get_secret_value(),
                        "created_at": key.created_at,
                        "retired_at": key.retired_at,
                    }
                    for kid, key in sorted(self.keys.items())
                },
            }
        )

    def rotated(self, now: datetime, retention: timedelta) -> KeyRing:
        """A new current key; the old one retired now; keys retired longer than ``retention`` dropped.

        ``retention`` must outlast the longest link lifetime: a key signs links until it is retired,
        and the last of them expires at most one link lifetime later.
        """
        stamp = _iso(now)
        kid = "k" + now.strftime("%Y%m%d%H%M%S")
        if kid in self.keys:
            raise ValueError(f"key {kid} exists already: one rotation per second")
        keys = {}
        for old_kid, key in self.keys.items():
            retired_at = key.retired_at or stamp
            if now - _parse_iso(retired_at) < retention:
                keys[old_kid] = key.model_copy(update={"retired_at": retired_at})
        keys[kid] = LinkKey(secret=SecretStr(secrets.token_urlsafe(48)), created_at=stamp)
        return KeyRing(current=kid, keys=keys)


def parse_ring(raw: str) -> KeyRing:
    """The ring a secret holds: JSON, or a plain string (one key, ``k0``)."""
    text = raw.strip()
    if text.startswith("{"):
        return KeyRing.model_validate_json(text)
    return KeyRing(current=LEGACY_KID, keys={LEGACY_KID: LinkKey(secret=SecretStr(text))})


def sign(ring: KeyRing, approval_id: str, approver: str, expires_at: str) -> str:
    """``v1-<kid>-<mac>`` with the ring's current key."""
    return _signature(ring, ring.current, approval_id, approver, expires_at)


def _signature(ring: KeyRing, kid: str, approval_id: str, approver: str, expires_at: str) -> str:
    message = f"{VERSION}\n{kid}\n{approval_id}\n{approver}\n{expires_at}"
    return f"{VERSION}-{kid}-{_mac(ring.keys[kid].secret, message)}"


def _legacy_signature(ring: KeyRing, approval_id: str, approver: str, expires_at: str) -> str:
    """A link signed before key ids existed: a bare MAC under the generated key."""
    return _mac(ring.keys[LEGACY_KID].secret, f"{approval_id}\n{approver}\n{expires_at}")


def _mac(secret: SecretStr, message: str) -> str:
    digest = hmac.new(secret.get_secret_value().encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


#: Unambiguous although ``-`` may occur in a MAC: the key id is digits, the MAC exactly 43 characters
#: (a bare legacy MAC is 43 characters in all, a versioned signature at least 49).
_SIGNATURE = re.compile(rf"^{VERSION}-({KID_PATTERN})-[A-Za-z0-9_-]{{43}}$")
_LEGACY_SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def key_id(signature: str) -> str | None:
    """The key a signature names (``k0`` for a bare legacy MAC), or None if it is malformed."""
    if match := _SIGNATURE.match(signature):
        return match[1]
    return LEGACY_KID if _LEGACY_SIGNATURE.match(signature) else None


def signer(
    ring: KeyRing, signature: str, approval_id: str, approvers: Sequence[str], expires_at: str
) -> str | None:
    """The approver whose link carries ``signature`` (constant-time comparisons), or None."""
    kid = key_id(signature)
    if kid is None or kid not in ring.keys:
        return None
    found = None
    for approver in approvers:
        expected = (
            _signature(ring, kid, approval_id, approver, expires_at)
            if _SIGNATURE.match(signature)
            else _legacy_signature(ring, approval_id, approver, expires_at)
        )
        if hmac.compare_digest(expected.encode(), signature.encode()):
            found = approver
    return found


class LinkKeys:
    """The ring as this container knows it; one refresh when a link names a key it has not seen.

    ``load(force)`` returns the secret's value, cached by the loader unless ``force``. After a
    rotation a container's cache can be minutes old: the first link signed with the new key makes
    it read the secret again (at most once per ``REFRESH_INTERVAL_S`` per secret), instead of
    refusing a valid link until its cache expires.
    """

    _last_refresh: dict[str, float] = {}
    _lock = threading.Lock()

    def __init__(self, name: str, load: Callable[[bool], str], clock: Callable[[], float] = time.monotonic):
        self._name = name
        self._load = load
        self._clock = clock

    def ring(self) -> KeyRing:
        return parse_ring(self._load(False))

    def sign(self, approval_id: str, approver: str, expires_at: str) -> str:
        return sign(self.ring(), approval_id, approver, expires_at)

    def signer(
        self, signature: str, approval_id: str, approvers: Sequence[str], expires_at: str
    ) -> str | None:
        kid = key_id(signature)
        if kid is None:
            return None  # malformed: never worth a call to Secrets Manager
        ring = self.ring()
        if kid not in ring.keys and self._may_refresh():
            ring = parse_ring(self._load(True))
        return signer(ring, signature, approval_id, approvers, expires_at)

    def _may_refresh(self) -> bool:
        with self._lock:
            now = self._clock()
            last = self._last_refresh.get(self._name)
            if last is not None and now - last < REFRESH_INTERVAL_S:
                return False
            self._last_refresh[self._name] = now
            return True


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
