"""Case-study generator: CRM facts → interview questions → client answers → draft → approvals → publish."""
