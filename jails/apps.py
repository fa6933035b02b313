from django.apps import AppConfig


class JailsConfig(AppConfig):
    name = "jails"
