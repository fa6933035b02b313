"""The test sandbox itself: what ``f2b`` hands a test."""

from __future__ import annotations

from conftest import wait_for


def test_fail2ban_reads_a_cleared_log_from_its_start(f2b, f2b_client):
    f2b.write_failures("sshd", "192.0.2.31", 3)
    assert wait_for(lambda: "192.0.2.31" in f2b_client.jail_status("sshd").banned_ips)
    f2b.clear_logs()
    assert f2b.log_path("sshd").stat().st_size == 0
    # As many bytes as before, at once: after a bare truncation fail2ban
    # would read on from its old offset and never see these lines.
    f2b.write_failures("sshd", "192.0.2.32", 3)
    assert wait_for(lambda: "192.0.2.32" in f2b_client.jail_status("sshd").banned_ips)
    assert f2b_client.jail_status("sshd").file_list == [str(f2b.log_path("sshd"))]
    f2b.write_failures("nginx-http-auth", "192.0.2.33", 1)  # left for the next test


def test_every_test_starts_with_empty_jail_logs(f2b):
    # After the test above, which left lines in two logs.
    assert {j.name: f2b.log_path(j.name).stat().st_size for j in f2b.jails} == \
        dict.fromkeys((j.name for j in f2b.jails), 0)
