"""Governance records: complaints (R1.2, R6.2, R7.4), the breach register (R7.2), and the
compliance report over them and the access log."""
