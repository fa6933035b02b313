import pytest

# What the sandbox's jail.conf says (its [DEFAULT] ignoreip), as fail2ban lists it.
CONFIG_IGNORED = {"127.0.0.0/8", "::1"}


@pytest.fixture
def clean_ignore_lists(f2b, f2b_client):
    """The shared sandbox's ignore lists as its config has them after the
    test: one test's allow-list does not reach the next."""
    yield f2b
    for jail in f2b_client.jail_names():
        for value in set(f2b_client.ignore_list(jail)) - CONFIG_IGNORED:
            f2b_client.remove_ignore(jail, value)
