"""/accounts/users/ and manage.py users: create, role, disable, set-password links."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts import roles
from accounts.models import AuditEntry
from accounts.tests.conftest import ensure_roles
from conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture(autouse=True)
def _roles(db):
    ensure_roles()


def _audit(action):
    return list(AuditEntry.objects.filter(action=action).values_list("target", "result", "detail"))


def test_it_lists_users_with_their_roles(admin_client, operator_user, support_user, viewer_user):
    response = admin_client.get("/accounts/users/")
    body = response.content.decode()
    assert response.status_code == 200
    for name in ("admin", "operator", "support", "viewer"):
        assert f'data-testid="user-{name}"' in body
    assert '<option value="support" selected>' in body


def test_it_refuses_the_page_to_everyone_but_admins(operator_client, support_client,
                                                   viewer_client):
    for client in (operator_client, support_client, viewer_client):
        assert client.get("/accounts/users/").status_code == 403


def test_it_creates_a_user_with_a_role_and_password(admin_client):
    response = admin_client.post("/accounts/users/", {
        "username": "night", "role": "support", "password1": TEST_PASSWORD,
        "password2": TEST_PASSWORD})
    assert response.status_code == 302
    user = User.objects.get(username="night")
    assert roles.role_of(user) == "support" and user.check_password(TEST_PASSWORD)
    assert _audit("user.create") == [("user:night", "ok", "role support")]


def test_it_creates_an_admin_as_a_superuser(admin_client):
    admin_client.post("/accounts/users/", {"username": "boss", "role": "admin",
                                           "password1": TEST_PASSWORD,
                                           "password2": TEST_PASSWORD})
    boss = User.objects.get(username="boss")
    assert boss.is_superuser and boss.is_staff and not boss.groups.exists()


def test_it_shows_a_set_password_link_once_for_a_user_without_password(admin_client, client):
    response = admin_client.post("/accounts/users/", {"username": "newbie", "role": "viewer"})
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="password-link"' in body
    user = User.objects.get(username="newbie")
    assert not user.has_usable_password()
    link = body.split('id="password-link" class="mono" readonly value="')[1].split('"')[0]
    assert link.startswith("http://testserver/accounts/set-password/")
    # not stored anywhere: the list shown again has no link
    again = admin_client.get("/accounts/users/").content.decode()
    assert 'data-testid="password-link"' not in again

    path = link.removeprefix("http://testserver")
    form = client.get(path, follow=True)
    assert "Choose your password" in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "a-Long-new-pass-42",
                                                    "new_password2": "a-Long-new-pass-42"})
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-Long-new-pass-42")
    assert _audit("user.set_password") == [("user:newbie", "ok", "")]
    # used once: the same link no longer works
    again = client.get(path, follow=True)
    assert "does not work any more" in again.content.decode()


def test_it_refuses_a_bad_new_user_and_saves_nothing(admin_client, viewer_user):
    response = admin_client.post("/accounts/users/", {
        "username": "viewer", "role": "viewer"})
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    response = admin_client.post("/accounts/users/", {
        "username": "x", "role": "viewer", "password1": "short", "password2": "short"})
    assert response.status_code == 400 and not User.objects.filter(username="x").exists()
    response = admin_client.post("/accounts/users/", {"username": "y", "role": "root"})
    assert response.status_code == 400 and not User.objects.filter(username="y").exists()
    assert {r for _, r, _ in _audit("user.create")} == {"failed"}


def test_it_changes_a_role(admin_client, viewer_user):
    response = admin_client.post(f"/accounts/users/{viewer_user.pk}/role/", {"role": "operator"},
                                 follow=True)
    assert "viewer is now operator" in response.content.decode()
    viewer_user = User.objects.get(pk=viewer_user.pk)
    assert roles.role_of(viewer_user) == "operator"
    assert list(viewer_user.groups.values_list("name", flat=True)) == ["operator"]
    assert _audit("user.role") == [("user:viewer", "ok", "viewer -> operator")]


def test_it_demotes_an_admin_who_is_not_the_last(admin_client, django_user_model):
    other = django_user_model.objects.create_user("other", is_superuser=True, is_staff=True)
    admin_client.post(f"/accounts/users/{other.pk}/role/", {"role": "viewer"})
    other.refresh_from_db()
    assert not other.is_superuser and not other.is_staff


def test_it_refuses_to_change_your_own_role_or_disable_yourself(admin_client, admin_user):
    response = admin_client.post(f"/accounts/users/{admin_user.pk}/role/", {"role": "viewer"},
                                 follow=True)
    assert "cannot change your own role" in response.content.decode()
    response = admin_client.post(f"/accounts/users/{admin_user.pk}/disable/", follow=True)
    assert "cannot disable yourself" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_superuser and admin_user.is_active
    assert not AuditEntry.objects.filter(action__startswith="user.").exists()


def test_it_disables_and_enables_a_user(admin_client, viewer_user):
    viewer = type(admin_client)()
    viewer.force_login(viewer_user)
    response = admin_client.post(f"/accounts/users/{viewer_user.pk}/disable/", follow=True)
    assert "Disabled viewer" in response.content.decode()
    assert viewer.get("/audit/").status_code == 302  # signed out at once
    admin_client.post(f"/accounts/users/{viewer_user.pk}/enable/")
    viewer_user.refresh_from_db()
    assert viewer_user.is_active
    assert [a for a, in AuditEntry.objects.filter(action__startswith="user.").order_by("id")
            .values_list("action")] == ["user.disable", "user.enable"]


def test_it_makes_a_set_password_link_for_an_existing_user(admin_client, viewer_user):
    response = admin_client.post(f"/accounts/users/{viewer_user.pk}/password-link/")
    assert "Set-password link for viewer" in response.content.decode()
    assert _audit("user.password_link") == [("user:viewer", "ok", "")]


# --- manage.py users ---------------------------------------------------------------------
def _run(*args) -> str:
    out = StringIO()
    call_command("users", *args, stdout=out)
    return out.getvalue()


def test_the_command_adds_lists_sets_roles_and_disables(setup_done, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text(TEST_PASSWORD + "\n")
    assert "Created ops (operator)" in _run("add", "ops", "--role", "operator",
                                            "--password-file", str(secret))
    assert "Created boss (admin)" in _run("add", "boss", "--role", "admin",
                                          "--password-file", str(secret))
    ops = User.objects.get(username="ops")
    assert roles.role_of(ops) == "operator" and ops.check_password(TEST_PASSWORD)
    assert "ops is now support" in _run("set-role", "ops", "support")
    assert "Disabled ops" in _run("disable", "ops")
    listing = _run("list").splitlines()
    assert listing[0].split() == ["USER", "ROLE", "STATE", "LAST", "LOGIN"]
    assert listing[1].split() == ["boss", "admin", "active", "never"]
    assert listing[2].split() == ["ops", "support", "disabled", "never"]
    actors = set(AuditEntry.objects.filter(action__startswith="user.")
                 .values_list("actor_name", flat=True))
    assert len(actors) == 1 and actors.pop().startswith("cli:")


def test_the_command_prints_a_link_when_no_password_is_given(setup_done):
    out = _run("add", "late", "--role", "viewer", "--base-url", "https://bangui.example.org")
    assert "https://bangui.example.org/accounts/set-password/" in out
    assert "/accounts/set-password/" in _run("link", "late")


def test_the_command_refuses_and_changes_nothing(setup_done, tmp_path):
    weak = tmp_path / "pw"
    weak.write_text("short")
    with pytest.raises(CommandError, match="too short"):
        _run("add", "x", "--role", "viewer", "--password-file", str(weak))
    with pytest.raises(CommandError, match="no user named"):
        _run("disable", "nobody")
    with pytest.raises(CommandError):
        _run("add", "x", "--role", "root")
    _run("add", "only", "--role", "admin")
    with pytest.raises(CommandError, match="last active admin"):
        _run("disable", "only")
    with pytest.raises(CommandError, match="last active admin"):
        _run("set-role", "only", "viewer")
    assert list(User.objects.values_list("username", flat=True)) == ["only"]
    assert User.objects.get(username="only").is_superuser


def test_no_cache_keeps_a_set_password_link(admin_client, viewer_user):
    response = admin_client.post(f"/accounts/users/{viewer_user.pk}/password-link/")
    assert "no-store" in response["Cache-Control"]
