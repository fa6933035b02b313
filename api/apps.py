from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The JSON API (docs/api.md): tokens, /api/v1/, exports. It sits at
    the top, like the views: it calls the apps, nothing imports it."""

    name = "api"
    verbose_name = "JSON API"
    default_auto_field = "django.db.models.BigAutoField"
