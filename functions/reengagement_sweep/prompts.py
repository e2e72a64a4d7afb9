"""The sweep's playbook is the referral flow's: one re-engagement email task, one cached prefix.

The sweep drafts the same email (``referral_reengagement_email``) for many clients; sharing the
referral playbook keeps one prompt to maintain and one prompt-cache entry that both flows warm.
"""

from __future__ import annotations

from functions.referral.prompts import PLAYBOOK

__all__ = ["PLAYBOOK"]
