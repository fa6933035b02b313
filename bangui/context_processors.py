from django.conf import settings

from bangui.hooks import app_hooks


def bangui(request):
    # data_credits is a function: the template calls it only where it shows
    # the credits (the footer of full pages), never for fragments.
    return {"bangui_version": settings.BANGUI_VERSION, "data_credits": data_credits}


def data_credits() -> list:
    """The attribution lines the apps' data needs on every page, from their
    ``credits`` hooks (geo: the databases it has open, geo/credits.py)."""
    return [credit for _, hook in app_hooks("credits") for credit in hook()]
