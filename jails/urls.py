from django.urls import path

from jails import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("status/", views.status_bar, name="status_bar"),
]
