"""The accounts tests' helpers: every role's user and client are in the
top-level conftest.py; here the OpenID Connect provider for the SSO tests."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from conftest import ensure_roles  # noqa: F401 (the tests' import path)

PROVIDER_SCRIPT = Path(__file__).parent / "oidc_provider" / "serve.py"
START_DEADLINE = 20.0  # seconds for the provider process to listen and answer
HTTP_TIMEOUT = 10.0


@dataclass
class OidcProvider:
    """The provider process (accounts/tests/oidc_provider/serve.py)."""

    url: str

    def user(self, sub: str, **claims) -> None:
        """The claims ``sub`` gets in its ID token and userinfo (groups …)."""
        response = requests.put(f"{self.url}/users/{quote(sub, safe='')}", json=claims,
                                timeout=HTTP_TIMEOUT)
        assert response.status_code == 204, response.text

    def authorize(self, authorize_url: str, sub: str) -> str:
        """Log ``sub`` in on the provider's form; the callback URL it sends back."""
        assert authorize_url.startswith(self.url), authorize_url
        response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False,
                                 timeout=HTTP_TIMEOUT)
        assert response.status_code == 302, response.text
        return response.headers["Location"]


def _first_line(stream, deadline: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=max(0.1, deadline - time.monotonic()))
    except queue.Empty:
        return ""


@pytest.fixture(scope="session")
def oidc_provider():
    process = subprocess.Popen([sys.executable, str(PROVIDER_SCRIPT)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + START_DEADLINE
        line = _first_line(process.stdout, deadline)
        if not line.startswith("listening "):
            pytest.fail(f"the OIDC provider did not start (said {line!r})")
        url = f"http://127.0.0.1:{int(line.split()[1])}"
        while True:
            try:
                if requests.get(f"{url}/.well-known/openid-configuration",
                                timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the OIDC provider does not answer")
            time.sleep(0.05)
        yield OidcProvider(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


ROLE_MAP = {"bangui-admins": "admin", "bangui-ops": "operator", "helpdesk": "support",
            "staff": "viewer"}


@pytest.fixture
def sso(settings, oidc_provider) -> OidcProvider:
    """BanGUI configured for the test provider, as the BANGUI_OIDC_* variables would."""
    settings.BANGUI_OIDC_SERVER_URL = oidc_provider.url
    settings.BANGUI_OIDC_CLIENT_ID = "bangui"
    settings.BANGUI_OIDC_CLIENT_SECRET = "not-a-secret"
    settings.BANGUI_OIDC_NAME = "Company SSO"
    settings.BANGUI_OIDC_GROUPS_CLAIM = "groups"
    settings.BANGUI_OIDC_ROLE_MAP = dict(ROLE_MAP)
    return oidc_provider
