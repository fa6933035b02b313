from django.conf import settings


def bangui(request):
    return {"bangui_version": settings.BANGUI_VERSION}
