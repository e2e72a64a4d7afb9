"""Law-firm operations: client intake → conflict check → client + matter → engagement letter →
billing set-up → billable-hours recovery, with people approving every irreversible step."""
