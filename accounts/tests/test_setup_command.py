import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import AuditEntry, RuntimeSettings

PASSWORD = "a long enough passphrase 31"


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "pw"
    path.write_text(PASSWORD + "\n")
    return path


@pytest.mark.django_db
def test_it_sets_up_from_a_password_file(f2b, password_file, capsys):
    call_command("setup", "--username", "ops", "--password-file", str(password_file),
                 "--socket", str(f2b.socket), "--timezone", "Asia/Tokyo", "--session-hours", "2")
    user = get_user_model().objects.get(username="ops")
    assert user.is_superuser and user.check_password(PASSWORD)
    stored = RuntimeSettings.objects.get()
    assert (stored.time_zone, stored.session_hours) == ("Asia/Tokyo", 2)
    assert "Setup complete" in capsys.readouterr().out
    assert AuditEntry.objects.get(action="setup").actor_name.startswith("cli:")


@pytest.mark.django_db
def test_it_takes_the_password_from_the_environment(f2b, monkeypatch):
    monkeypatch.setenv("BANGUI_SETUP_PASSWORD", PASSWORD)
    call_command("setup", "--username", "ops", "--socket", str(f2b.socket))
    assert get_user_model().objects.get(username="ops").check_password(PASSWORD)


@pytest.mark.django_db
def test_it_refuses_when_already_set_up(f2b, password_file):
    call_command("setup", "--username", "ops", "--password-file", str(password_file),
                 "--socket", str(f2b.socket))
    with pytest.raises(CommandError, match="already set up"):
        call_command("setup", "--username", "ops2", "--password-file", str(password_file),
                     "--socket", str(f2b.socket))
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_a_dead_socket_and_saves_nothing(password_file, tmp_path):
    with pytest.raises(CommandError, match="no socket at that path"):
        call_command("setup", "--username", "ops", "--password-file", str(password_file),
                     "--socket", str(tmp_path / "dead.sock"))
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_it_refuses_without_a_password(f2b, monkeypatch):
    monkeypatch.delenv("BANGUI_SETUP_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="no password"):
        call_command("setup", "--username", "ops", "--socket", str(f2b.socket))


def test_it_has_no_password_argument():
    from accounts.management.commands.setup import Command

    parser = Command().create_parser("manage.py", "setup")
    assert not any(opt == "--password" for a in parser._actions for opt in a.option_strings)
