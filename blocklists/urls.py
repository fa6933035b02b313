"""The blocklist pages (docs/blocklists.md), included at the URL root by
``bangui/urls.py``."""

from django.urls import path

from blocklists import views

urlpatterns = [
    path("blocklists/", views.blocklist_list, name="blocklist_list"),
    path("blocklists/new/", views.blocklist_edit, name="blocklist_new"),
    path("blocklists/preview/", views.blocklist_preview, name="blocklist_preview"),
    path("blocklists/<int:pk>/", views.blocklist_detail, name="blocklist_detail"),
    path("blocklists/<int:pk>/edit/", views.blocklist_edit, name="blocklist_edit"),
    path("blocklists/<int:pk>/delete/", views.blocklist_delete, name="blocklist_delete"),
    path("blocklists/<int:pk>/toggle/", views.blocklist_toggle, name="blocklist_toggle"),
    path("blocklists/<int:pk>/import/", views.blocklist_import, name="blocklist_import"),
]
