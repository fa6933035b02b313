"""Blocklist imports: download (SSRF-guarded), parse, ban in batches."""
