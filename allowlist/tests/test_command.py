"""manage.py allowlist add/list/remove (the page's twin)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEntry
from allowlist.models import AllowEntry

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command("allowlist", *args, stdout=out)
    return out.getvalue()


def test_it_adds_lists_and_removes(clean_ignore_lists, f2b_client):
    said = _run("add", "198.51.100.0/24", "--note", "office", "--expires", "1d",
                "--jail", "sshd")
    entry = AllowEntry.objects.get()
    assert said.startswith(f"{entry.pk}: allow-listed 198.51.100.0/24 (jail sshd on every node)")
    assert "198.51.100.0/24" in f2b_client.ignore_list("sshd")
    assert AuditEntry.objects.get(action="allowlist.add").actor_name.startswith("cli:")

    listed = _run("list")
    assert f"{entry.pk}\t198.51.100.0/24\tjail sshd on every node\tactive, until" in listed
    assert "office" in listed

    assert _run("remove", str(entry.pk)).startswith("removed 198.51.100.0/24")
    assert "198.51.100.0/24" not in f2b_client.ignore_list("sshd")
    assert not AllowEntry.objects.exists()


def test_it_takes_a_host_name_for_a_label(db):
    said = _run("add", "VPN.example.org", "--label", "web")
    assert "allow-listed vpn.example.org (every jail on nodes labelled web)" in said


@pytest.mark.parametrize("args", [
    ("add", "192.0.2.999"), ("add", "192.0.2.1", "--expires", "soon"),
    ("add", "192.0.2.1", "--jail", "no jail"), ("add", "192.0.2.1", "--node", "bad_name"),
    ("add", "192.0.2.1", "--label", "a b"), ("remove", "999")])
def test_it_refuses_bad_input_and_changes_nothing(db, args):
    with pytest.raises(CommandError):
        _run(*args)
    assert not AllowEntry.objects.exists()


def test_node_and_label_exclude_each_other(db):
    with pytest.raises(CommandError):
        _run("add", "192.0.2.1", "--node", "a", "--label", "web")
