"""The regex tester runs fail2ban-regex on pasted lines or allowed log files."""

import pytest

from jails.config import regex as regex_tester
from jails.fail2ban.testing import sshd_failure_line

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}

# Distinct sshd PIDs: fail2ban's sshd filter merges lines of one PID into one
# failure (its multi-line id), as it would for one connection.
LINES = (sshd_failure_line("192.0.2.10").replace("sshd[", "sshd[1")
         + sshd_failure_line("2001:db8::7").replace("sshd[", "sshd[2")
         + "Nov 23 14:03:08 host sshd[1]: Connection closed by 192.0.2.12 port 22 [preauth]\n"
         + "Nov 23 14:03:09 host cron[2]: job done\n")


@pytest.fixture
def cfg(f2b, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.BANGUI_REGEX_LOG_DIRS = [str(f2b.logdir)]
    return f2b


def test_it_finds_hosts_with_an_existing_filter(cfg):
    result = regex_tester.run(lines=LINES, filter_name="sshd")
    assert [m.hosts for m in result.matched] == [["192.0.2.10"], ["2001:db8::7"]]
    assert result.missed == ["Nov 23 14:03:09 host cron[2]: job done"]
    assert result.total == 4


def test_it_runs_a_pasted_regex_with_ignoreregex(cfg):
    result = regex_tester.run(lines=LINES, failregex="Failed password for \\S+ from <HOST>\n"
                              "100% sure <HOST>", ignoreregex="192\\.0\\.2\\.10")
    assert [m.hosts for m in result.matched] == [["2001:db8::7"]]
    assert len(result.ignored) == 1 and len(result.missed) == 2


def test_it_reads_an_allowed_log_file(cfg):
    cfg.log_path("sshd").write_text(LINES)
    result = regex_tester.run(log_path=str(cfg.log_path("sshd")), filter_name="sshd")
    assert result.hosts == ["192.0.2.10", "2001:db8::7"]


@pytest.mark.parametrize("path", ["/etc/passwd", "relative.log", "{}/../../../etc/passwd"])
def test_it_refuses_logs_outside_the_allow_list(cfg, path):
    with pytest.raises(regex_tester.TesterError):
        regex_tester.run(log_path=path.format(cfg.logdir), filter_name="sshd")


def test_it_reports_a_broken_regex_once_with_the_reason(cfg):
    """fail2ban-regex says it on stdout, and fail2ban's logger again on
    stderr with a timestamp: the tester showed both, without the reason."""
    with pytest.raises(regex_tester.TesterError) as caught:
        regex_tester.run(lines=LINES, failregex="from (<HOST>")
    message = str(caught.value)
    assert message.startswith("ERROR: Unable to compile regular expression")
    assert message.count("Unable to compile") == 1
    assert "missing ), unterminated subpattern" in message
    assert "fail2ban.filter" not in message


def test_it_serves_the_page_and_the_result_fragment(cfg, viewer_client):
    page = viewer_client.get("/config/regex/")
    assert page.status_code == 200 and "<html" in page.content.decode()
    response = viewer_client.post("/config/regex/", {"filter_name": "sshd", "lines": LINES})
    html = response.content.decode()
    assert "<html" in html and "2 matched" in html and "192.0.2.10" in html
    frag = viewer_client.post("/config/regex/", {"filter_name": "sshd", "lines": LINES}, **HX)
    text = frag.content.decode()
    assert text.lstrip().startswith('<section id="regex-result"')
    assert "job done" in text and "2001:db8::7" in text


def test_it_refuses_a_log_outside_the_allow_list_over_http(cfg, admin_client):
    # (a viewer may not name a log file at all: test_viewer_walk.py)
    response = admin_client.post("/config/regex/", {"filter_name": "sshd",
                                                    "log_path": "/etc/shadow"}, **HX)
    assert response.status_code == 400
    assert "outside the directories" in response.content.decode()


def test_it_needs_csrf(cfg, viewer_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer_user)
    assert client.post("/config/regex/", {"filter_name": "sshd", "lines": LINES}
                       ).status_code == 403


def test_a_last_pasted_line_without_a_newline_is_tested(cfg, viewer_client):
    one = LINES.splitlines()[0]
    result = regex_tester.run(filter_name="sshd", lines=one)
    assert result.total == 1 and len(result.matched) == 1
    html = viewer_client.post("/config/regex/", {"filter_name": "sshd", "lines": one},
                              **HX).content.decode()
    assert "0 lines" not in html


def test_a_user_runs_one_test_at_a_time(cfg, viewer_client):
    with regex_tester.slot("viewer"):
        response = viewer_client.post("/config/regex/", {"filter_name": "sshd", "lines": LINES},
                                      **HX)
    assert response.status_code == 429
    assert "your previous regex test is still running" in response.content.decode()
    again = viewer_client.post("/config/regex/", {"filter_name": "sshd", "lines": LINES}, **HX)
    assert again.status_code == 200


def test_the_tester_runs_a_bounded_number_of_tests_in_all(cfg, viewer_client):
    with regex_tester.slot("someone"), regex_tester.slot("someone else"):
        response = viewer_client.post("/config/regex/", {"filter_name": "sshd", "lines": LINES},
                                      **HX)
        assert response.status_code == 429
        assert "the regex tester is busy" in response.content.decode()
        with pytest.raises(regex_tester.Busy), regex_tester.slot("a third"):
            pass


def test_the_regex_command_answers_the_same_run_with_its_lists(cfg):
    """What a node's worker runs for the tester of another host
    (jails/fleet/commands.py): the same test, words plus the lists."""
    from jails.fleet import commands

    words, data = commands.answer("regex", {"lines": LINES, "filter_name": "sshd"}, "root")
    assert words == "4 lines tested from pasted lines: 2 matched, 1 ignored, 1 missed"
    assert [m["hosts"] for m in data["matched"]] == [["192.0.2.10"], ["2001:db8::7"]]
    assert data["clipped"] is False
    for args in ({"lines": LINES, "filter_name": "sshd", "rm": "-rf"},
                 {"lines": "x" * (1024 * 1024 + 1), "filter_name": "sshd"},
                 {"lines": LINES, "filter_name": "nosuchfilter"}):
        with pytest.raises(commands.InvalidInput):
            commands.answer("regex", args, "root")


def test_the_tester_offers_the_fleet_and_says_why_a_node_did_not_run_it(cfg, admin_client):
    from datetime import timedelta

    from django.utils import timezone

    from nodes.models import Node

    page = admin_client.get("/config/regex/").content.decode()
    assert "Run on" not in page  # a single host
    now = timezone.now()
    Node.objects.create(name="b", holder="b:1:x", heartbeat_at=now - timedelta(minutes=5),
                        expires_at=now - timedelta(minutes=4), filters=["b-only"])
    page = admin_client.get("/config/regex/").content.decode()
    assert "Run on" in page and '<option value="b-only">' in page
    response = admin_client.post("/config/regex/", {"lines": LINES, "filter_name": "b-only",
                                                    "node": "b"}, **HX)
    assert response.status_code == 400
    assert "on b: node b is down" in response.content.decode()
