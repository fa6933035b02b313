"""Packaging beyond what pyproject.toml can say: the site-wide ``templates/``,
``static/`` and ``contrib/`` folders of the source tree go into the wheel as
``bangui/templates``, ``bangui/static`` and ``bangui/contrib``, where Django
finds them as the ``bangui`` app's own (APP_DIRS, AppDirectoriesFinder). The
source tree keeps them at the top (settings.py points there)."""

from setuptools import find_packages, setup

SITE = {"bangui.templates": "templates", "bangui.static": "static",
        "bangui.contrib": "contrib"}

setup(
    packages=find_packages(include=["bangui*", "nodes*", "jails*", "blocklists*", "geo*",
                                    "accounts*", "api*", "notifications*", "allowlist*"],
                           exclude=["*.tests", "*.tests.*"]) + list(SITE),
    package_dir=SITE,
)
