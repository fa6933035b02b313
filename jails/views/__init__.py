"""Views of the jails app, one module per page family (status, dashboard,
jails, config …); ``jails/urls.py`` wires them. Blocklists: blocklists/."""
