from django.urls import path

from jails.views import status

urlpatterns = [
    path("", status.dashboard, name="dashboard"),
    path("status/", status.status_bar, name="status_bar"),
]
