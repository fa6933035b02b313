from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import views

urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("settings/", views.runtime_settings, name="settings"),
    path("audit/", views.audit_log, name="audit"),
    # Users and their roles (admins), and where a set-password link leads.
    path("accounts/users/", views.user_list, name="users"),
    path("accounts/users/<int:pk>/role/", views.user_role, name="user_role"),
    path("accounts/users/<int:pk>/disable/", views.user_disable, name="user_disable"),
    path("accounts/users/<int:pk>/enable/", views.user_enable, name="user_enable"),
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
