from django.apps import AppConfig


class BanguiConfig(AppConfig):
    name = "bangui"
    verbose_name = "BanGUI"
