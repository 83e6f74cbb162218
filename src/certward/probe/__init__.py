"""The remote prober: targets, dialogues (Twisted + pyOpenSSL), checks, reports."""
