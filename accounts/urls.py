from django.urls import path

from accounts import views

urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("settings/", views.runtime_settings, name="settings"),
    path("audit/", views.audit_log, name="audit"),
]
