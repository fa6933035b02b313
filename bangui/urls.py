from django.contrib import admin
from django.urls import include, path

from bangui import health, views

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", health.metrics, name="metrics"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("", include("nodes.urls")),
    path("", include("accounts.urls")),
    path("", include("jails.urls")),
    path("", include("blocklists.urls")),
    path("", include("allowlist.urls")),
    path("api/", include("api.urls")),
    path("", include("notifications.urls")),
]

handler500 = "bangui.views.server_error"
