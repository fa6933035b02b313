import pytest

from blocklists.parse import GarbageList, parse


def test_it_reads_addresses_with_comments_crlf_bom_and_trailing_text():
    body = (
        "\ufeff# a list\r\n"
        "203.0.113.1\r\n"
        "\r\n"
        "; another comment\r\n"
        "203.0.113.2  # scanner\r\n"
        "203.0.113.3\t17\r\n"
        "2001:db8::1,extra\r\n"
    ).encode()
    result = parse(body)
    assert result.ips == ["203.0.113.1", "203.0.113.2", "203.0.113.3", "2001:db8::1"]
    assert (result.valid, result.invalid) == (4, 0)


def test_it_counts_invalid_and_duplicate_lines():
    result = parse(b"203.0.113.1\nnot-an-ip\n203.0.113.1\n999.1.1.1\n")
    assert result.ips == ["203.0.113.1"]
    assert result.invalid == 2
    assert result.duplicates == 1
    assert result.invalid_samples == ["not-an-ip", "999.1.1.1"]


def test_it_expands_small_networks_and_skips_large_ones():
    result = parse(b"198.51.100.0/30\n10.0.0.0/8\n203.0.113.7/32\n", cidr_limit=256)
    assert result.ips == ["198.51.100.1", "198.51.100.2", "203.0.113.7"]
    assert result.skipped_networks == 1


def test_it_refuses_binary_data():
    with pytest.raises(GarbageList, match="binary"):
        parse(b"\x89PNG\r\n\x1a\n\x00\x00\x00")


def test_it_refuses_a_page_without_any_address():
    with pytest.raises(GarbageList, match="no valid address"):
        parse(b"<html><body>Not found</body></html>\n")


def test_an_empty_list_is_not_garbage():
    result = parse(b"# nothing today\n")
    assert result.ips == [] and result.valid == 0


@pytest.mark.parametrize("line, expected", [
    ("203.0.113.9", ["203.0.113.9"]),
    ("0.1.0.0", ["0.1.0.0"]),
    ("255.255.255.255", ["255.255.255.255"]),
    ("203.0.113.9 # scanner", ["203.0.113.9"]),
    ("256.1.1.1", []),  # octet too big
    ("203.0.113.09", []),  # leading zero: ipaddress refuses it, so does the fast path
    ("\u0662\u0660\u0663.0.113.9", []),  # Arabic-Indic digits are not ASCII digits
    ("203.0.113", []),
    ("2001:DB8::1", ["2001:db8::1"]),  # not a dotted quad: the slow path canonicalizes
])
def test_the_dotted_quad_fast_path_agrees_with_ipaddress(line, expected):
    result = parse(f"# list\n{line}\n198.51.100.1\n".encode())
    assert result.ips == [*expected, "198.51.100.1"]
    assert result.invalid == (0 if expected else 1)
