"""Ports: the small interfaces domain code depends on, and the models they exchange."""

from functions.shared.ports.crm import (
    CONTACT_STATUSES,
    Activity,
    Contact,
    ContactStatus,
    CrmPort,
    Deal,
    StatusConflict,
    normalise_email,
)
from functions.shared.ports.email import EmailPort, OutgoingEmail, SentEmail
from functions.shared.ports.files import FileStore, sha256_text

__all__ = [
    "CONTACT_STATUSES",
    "Activity",
    "Contact",
    "ContactStatus",
    "CrmPort",
    "Deal",
    "EmailPort",
    "FileStore",
    "OutgoingEmail",
    "SentEmail",
    "StatusConflict",
    "normalise_email",
    "sha256_text",
]
