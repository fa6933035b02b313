"""The allow-list pages (docs/allowlist.md), included at the URL root by
``bangui/urls.py``."""

from django.urls import path

from allowlist import views

urlpatterns = [
    path("allowlist/", views.allowlist, name="allowlist"),
    path("allowlist/add/", views.allowlist_add, name="allowlist_add"),
    path("allowlist/<int:pk>/remove/", views.allowlist_remove, name="allowlist_remove"),
]
