"""The Notifications page, and the channel and rule pages: everyone signed in
reads them, operators change them (audited). A channel's URL is never
rendered; "Send test" queues the message to the worker and the page polls
the delivery until it has a result."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_q.tasks import async_task

from accounts import audit
from accounts.roles import operate
from bangui.htmx import render_page, wants_fragment
from nodes import nodename
from nodes.fleet import coordinator
from notifications import evaluate
from notifications.forms import ChannelForm, RuleForm
from notifications.models import Channel, Delivery, Notification, Rule

DONE = 286  # htmx stops polling on this status (and still swaps the answer in)
PAGE_SIZE = 50


@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    rows = Notification.objects.prefetch_related(
        Prefetch("deliveries", queryset=Delivery.objects.order_by("channel_name", "id")))
    if request.GET.get("unread"):
        rows = rows.filter(read=False)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(request, "notifications/notifications.html", "notification-rows", {
        "page": page, "unread_only": bool(request.GET.get("unread")),
        "unread": Notification.objects.filter(read=False).count()})


@operate
@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    """One shared read state: operators (who act on the messages) mark
    them read, as they acknowledge an alert."""
    ids = [int(i) for i in request.POST.getlist("id") if i.isdigit()]
    rows = Notification.objects.filter(read=False)
    rows = rows.filter(pk__in=ids) if ids else rows
    count = rows.update(read=True)
    messages.success(request, f"Marked {count} notification{'' if count == 1 else 's'} read.")
    return redirect("notifications")


@require_GET
def channel_list(request: HttpRequest) -> HttpResponse:
    return render(request, "notifications/channels.html", {
        "channels": Channel.objects.select_related("created_by")})


@operate
@require_http_methods(["GET", "POST"])
def channel_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=pk) if pk else Channel(created_by=request.user)
    form = ChannelForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        replaced = bool(form.cleaned_data.get("url"))
        channel = form.save()
        audit.record(request, "notify.channel.add" if pk is None else "notify.channel.change",
                     target=channel.name,
                     detail=f"{channel.scheme}://…" + (" (URL replaced)" if replaced and pk
                                                       else ""))
        messages.success(request, f"Saved the channel {channel.name}.")
        return redirect("notification_channels")
    return render(request, "notifications/channel_form.html",
                  {"form": form, "channel": channel}, status=400 if form.errors else 200)


@operate
@require_POST
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=pk)
    channel.delete()
    audit.record(request, "notify.channel.remove", target=channel.name)
    messages.success(request, f"Removed the channel {channel.name}.")
    return redirect("notification_channels")


@operate
@require_POST
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a test message to the worker (never sent from a web request)."""
    channel = get_object_or_404(Channel, pk=pk)
    delivery = evaluate.test_delivery(channel, request.user.get_username())
    node = coordinator() or settings.BANGUI_NODE
    async_task("notifications.tasks.send_test", delivery.pk,
               task_name=f"notification test {channel.name}", cluster=nodename.queue(node))
    audit.record(request, "notify.channel.test", target=channel.name, detail="queued")
    if wants_fragment(request):
        return render(request, "notifications/channels.html#delivery",
                      {"delivery": delivery, "channel": channel})
    return redirect("notification_delivery", pk=delivery.pk)


@require_GET
def delivery_result(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery.objects.select_related("notification"), pk=pk)
    status = 200 if delivery.result == Delivery.Result.PENDING else DONE
    if not wants_fragment(request):
        status = 200
    return render_page(request, "notifications/delivery.html", "delivery",
                       {"delivery": delivery}, status=status)


@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    return render(request, "notifications/rules.html", {
        "rules": Rule.objects.prefetch_related("channels")})


@operate
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk) if pk else Rule(created_by=request.user)
    form = RuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        rule = form.save()
        audit.record(request, "notify.rule.add" if pk is None else "notify.rule.change",
                     target=rule.name, detail=f"{rule.kind}, {rule.scope}, channels: "
                     + (", ".join(c.name for c in rule.channels.all()) or "none"))
        messages.success(request, f"Saved the rule {rule.name}.")
        return redirect("notification_rules")
    return render(request, "notifications/rule_form.html", {"form": form, "rule": rule},
                  status=400 if form.errors else 200)


@operate
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk)
    rule.delete()
    audit.record(request, "notify.rule.remove", target=rule.name)
    messages.success(request, f"Removed the rule {rule.name}.")
    return redirect("notification_rules")
