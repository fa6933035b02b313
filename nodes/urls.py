from django.urls import path

from nodes import views

urlpatterns = [
    path("nodes/", views.nodes_page, name="nodes"),
]
