"""manage.py notify channel add NAME URL | test NAME | list | remove NAME.

``test`` sends a test message now, from this process (a command is not a web
request), and exits 0 only when the channel took it."""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import audit
from notifications import evaluate, transports
from notifications.models import Channel


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


class Command(BaseCommand):
    help = "Notification channels: add, test, list, remove (docs/notifications.md)."

    def add_arguments(self, parser):
        what = parser.add_subparsers(dest="what", required=True)
        channel = what.add_parser("channel", help="notification channels")
        action = channel.add_subparsers(dest="action", required=True)
        add = action.add_parser("add", help="add a channel (an apprise or bangui+https URL)")
        add.add_argument("name")
        add.add_argument("url")
        test = action.add_parser("test", help="send a test message; exit 0 when delivered")
        test.add_argument("name")
        action.add_parser("list", help="the channels (URLs are never shown)")
        remove = action.add_parser("remove", help="remove a channel")
        remove.add_argument("name")

    def handle(self, *args, what: str, action: str, **options):
        return getattr(self, f"handle_{action}")(**options)

    def _channel(self, name: str) -> Channel:
        channel = Channel.objects.filter(name=name).first()
        if channel is None:
            raise CommandError(f"no channel named {name!r} (manage.py notify channel list)")
        return channel

    def handle_add(self, name: str, url: str, **_):
        try:
            transports.check(url)
        except transports.InvalidURL as exc:
            raise CommandError(f"not added: {exc}") from None
        with transaction.atomic():
            if Channel.objects.filter(name=name).exists():
                raise CommandError(f"a channel named {name!r} exists; remove it first")
            channel = Channel(name=name)
            channel.set_url(url)
            channel.save()
            audit.record(_actor(), "notify.channel.add", target=name, detail=f"{channel.scheme}://…")
        self.stdout.write(f"Added the channel {name} ({channel.scheme}).")

    def handle_test(self, name: str, **_):
        channel = self._channel(name)
        delivery = evaluate.test_delivery(channel, _actor())
        delivery.attempts = 1
        delivery = evaluate.send_delivery(delivery)
        if delivery.result != delivery.Result.DELIVERED:
            raise CommandError(f"{name}: not delivered: {delivery.detail}")
        self.stdout.write(f"{name}: delivered ({delivery.detail}).")

    def handle_list(self, **_):
        channels = Channel.objects.all()
        if not channels:
            self.stdout.write("No channels.")
        for channel in channels:
            state = "enabled" if channel.enabled else "disabled"
            self.stdout.write(f"{channel.name}\t{channel.scheme}\t{state}")

    def handle_remove(self, name: str, **_):
        channel = self._channel(name)
        channel.delete()
        audit.record(_actor(), "notify.channel.remove", target=name)
        self.stdout.write(f"Removed the channel {name}.")
