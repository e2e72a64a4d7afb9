"""No-show reply: a client's answer to a confirmation request updates the calendar (issue #5)."""
