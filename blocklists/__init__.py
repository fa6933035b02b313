"""Blocklists: lists of known-bad addresses, downloaded (SSRF-guarded),
parsed and banned in batches into a fail2ban jail on each target node
(docs/blocklists.md). An app of its own that uses jails (the fail2ban
client, the archive sync, the live link, validation, form fields); jails
knows nothing of it."""
