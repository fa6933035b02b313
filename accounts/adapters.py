"""BanGUI's django-allauth adapters (ACCOUNT_ADAPTER, SOCIALACCOUNT_ADAPTER).

allauth is used for single sign-on and two-factor only: no signup, no
e-mail, no password reset. The decisions live in accounts/sso.py and
accounts/mfa.py; these classes are where allauth asks for them.
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.http import HttpRequest

from accounts import sso

# allauth's chatter BanGUI does not show: it says its own things (logout) or
# nothing (a login lands on the page asked for).
_QUIET = {"account/messages/logged_in.txt", "account/messages/logged_out.txt"}


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False  # users come from an admin (/accounts/users/) or from SSO

    def add_message(self, request, level, message_template=None, message_context=None,
                    extra_tags="", message=None):
        if message_template in _QUIET:
            return
        super().add_message(request, level, message_template, message_context, extra_tags,
                            message)

    def respond_user_inactive(self, request: HttpRequest, user):
        return sso.refuse(request, user.get_username(), "this user is disabled in BanGUI")


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request, provider=None, client_id=None):
        # The environment is the only source: no SocialApp rows are read.
        app = sso.configured_app()
        if app is None or provider not in (None, app.provider, app.provider_id):
            return []
        if client_id not in (None, app.client_id):
            return []
        return [app]

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return True  # anyone the role map lets in (checked before this)

    def is_auto_signup_allowed(self, request, sociallogin) -> bool:
        return True  # never allauth's signup form

    def pre_social_login(self, request, sociallogin) -> None:
        try:
            sso.check(request, sociallogin)
        except sso.Refused as exc:
            raise ImmediateHttpResponse(sso.refuse_login(request, sociallogin, str(exc))) \
                from None

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        # A local user of the same name stays theirs: the SSO user gets "name2".
        wanted = [data.get("username"), (data.get("email") or "").partition("@")[0], "sso-user"]
        user.username = get_account_adapter().generate_unique_username(
            [w for w in wanted if w])
        return user

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        sso.created(request, sociallogin, user)
        return user

    def on_authentication_error(self, request, provider, error=None, exception=None,
                                extra_context=None) -> None:
        sso.record_error(request, error, exception)
