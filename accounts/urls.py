from allauth.account.views import reauthenticate
from allauth.socialaccount.providers.openid_connect import views as oidc_views
from allauth.socialaccount.views import login_cancelled, login_error
from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy

from accounts import views

urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    # django-allauth, only the parts BanGUI uses (docs/sso.md): its code
    # reverses account_login/account_logout, which are BanGUI's own pages.
    path("login/", views.login, name="account_login"),
    path("logout/", views.logout, name="account_logout"),
    path("accounts/reauthenticate/", reauthenticate, name="account_reauthenticate"),
    path("accounts/2fa/", include("allauth.mfa.urls")),  # TOTP, recovery codes, the code step
    # The OIDC login and callback (allauth's views; its own urls module uses
    # a regex route, these are the same routes as paths).
    path("accounts/oidc/<str:provider_id>/login/", oidc_views.login,
         name="openid_connect_login"),
    path("accounts/oidc/<str:provider_id>/login/callback/", oidc_views.callback,
         name="openid_connect_callback"),
    path("accounts/sso/cancelled/", login_cancelled, name="socialaccount_login_cancelled"),
    path("accounts/sso/error/", login_error, name="socialaccount_login_error"),
    path("settings/", views.runtime_settings, name="settings"),
    path("audit/", views.audit_log, name="audit"),
    # Users and their roles (admins), and where a set-password link leads.
    path("accounts/users/", views.user_list, name="users"),
    path("accounts/users/<int:pk>/role/", views.user_role, name="user_role"),
    path("accounts/users/<int:pk>/disable/", views.user_disable, name="user_disable"),
    path("accounts/users/<int:pk>/enable/", views.user_enable, name="user_enable"),
    path("accounts/users/<int:pk>/two-factor/reset/", views.user_reset_two_factor,
         name="user_reset_two_factor"),
    path("accounts/users/<int:pk>/password-link/", views.user_password_link,
         name="user_password_link"),
    path("accounts/set-password/<uidb64>/<token>/", views.SetPasswordView.as_view(),
         name="user_set_password"),
    path("accounts/set-password/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="accounts/set_password_done.html"), name="user_set_password_done"),
    # Every user changes their own password in the app (Django's views).
    path("password/", auth_views.PasswordChangeView.as_view(
        template_name="accounts/password_change.html",
        success_url=reverse_lazy("password_change_done")), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(
        template_name="accounts/password_change_done.html"), name="password_change_done"),
]
