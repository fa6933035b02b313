from django.urls import path

from geo import views

urlpatterns = [
    path("map/", views.world_map_page, name="world_map"),
]
