"""A real OpenID Connect provider for the SSO tests, run as its own process.

    python accounts/tests/oidc_provider/serve.py   # prints "listening PORT"

It is oidc-provider-mock (authlib underneath): discovery, JWKS, RS256-signed
ID tokens, userinfo, any client id/secret (no nonce required: allauth's
code flow sends state and PKCE, not a nonce, which OIDC makes optional for
the code flow). Users and their
claims (``groups``, ``preferred_username``) are set with ``PUT /users/SUB``;
the login form takes the subject. Around it, PKCE is *enforced* (the mock
accepts but ignores it): an authorization request without an S256
``code_challenge`` gets 400, and a token request whose ``code_verifier`` does
not hash to the code's challenge gets ``invalid_grant``, so a passing login
proves BanGUI did PKCE. Bound to 127.0.0.1 on a free port.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
from urllib.parse import parse_qs, urlsplit

import oidc_provider_mock
from werkzeug.serving import make_server


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
        b"=").decode()


class RequirePkce:
    """WSGI wrapper: S256 PKCE or no code, no token."""

    def __init__(self, app):
        self.app = app
        self.challenges: dict[str, str] = {}  # authorization code -> its challenge

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/oauth2/authorize":
            return self._authorize(environ, start_response)
        if path == "/oauth2/token" and environ.get("REQUEST_METHOD") == "POST":
            return self._token(environ, start_response)
        return self.app(environ, start_response)

    def _authorize(self, environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        challenge = (query.get("code_challenge") or [""])[0]
        if not challenge or (query.get("code_challenge_method") or [""])[0] != "S256":
            return _answer(start_response, "400 Bad Request",
                           {"error": "invalid_request",
                            "error_description": "PKCE (S256) required"})

        def remember(status, headers, exc_info=None):
            for name, value in headers:
                if name.lower() == "location":
                    code = (parse_qs(urlsplit(value).query).get("code") or [""])[0]
                    if code:
                        self.challenges[code] = challenge
            return start_response(status, headers, exc_info)

        return self.app(environ, remember)

    def _token(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        form = parse_qs(body.decode())
        code = (form.get("code") or [""])[0]
        verifier = (form.get("code_verifier") or [""])[0]
        if (form.get("grant_type") or [""])[0] == "authorization_code":
            challenge = self.challenges.pop(code, None)
            if challenge is None or not verifier or _s256(verifier) != challenge:
                return _answer(start_response, "400 Bad Request",
                               {"error": "invalid_grant",
                                "error_description": "code_verifier does not match"})
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


def _answer(start_response, status: str, payload: dict):
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def main() -> None:
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on loopback
    app = RequirePkce(oidc_provider_mock.app())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"listening {server.server_port}", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
