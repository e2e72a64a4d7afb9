"""The scheduled re-engagement sweep: every dormant client, in batches, one digest approval."""
