"""Referral tracking and re-engagement: one module per step (see ``functions/registry.py``)."""
