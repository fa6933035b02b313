"""Views of the jails app, one module per page family (status, dashboard,
jails, config, blocklists); ``jails/urls.py`` wires them."""
