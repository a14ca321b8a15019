"""SAS URL parsing, validation, argument resolution and redaction (pure logic, no network)."""

from __future__ import annotations

import base64
import io
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from planner.errors import BadInput
from planner.sas import REDACTED, SasUrl, parse_sas_url, redact, resolve_sas_argument

SIG = "987897asdfadhfa90ds7fasdfkljahdsfsd%3D"
TEAM_URL = (
    "https://cameratrapstuff.blob.core.windows.net/your-organization"
    f"?sv=2020-10-02&si=your-organization-rw&sr=c&sig={SIG}"
)
SP_URL = (
    "https://acct01.blob.core.windows.net/cams?sv=2022-11-02&st=2026-11-01T00%3A00%3A00Z"
    f"&se=2026-12-24T10%3A30%3A00Z&sr=c&sp=racwl&sig={SIG}"
)


def _bad(text: str) -> str:
    with pytest.raises(BadInput) as e:
        parse_sas_url(text)
    message = str(e.value)
    assert "\n" not in message
    assert "987897asdf" not in message
    return message


# ---- good URLs --------------------------------------------------------------------------------------


def test_team_url_with_stored_policy() -> None:
    sas = parse_sas_url(TEAM_URL)
    assert sas.account_url == "https://cameratrapstuff.blob.core.windows.net"
    assert sas.account_name == "cameratrapstuff"
    assert sas.container == "your-organization"
    assert sas.prefix == ""
    assert sas.policy_id == "your-organization-rw"
    assert sas.expiry is None and sas.permissions is None
    assert not sas.is_emulator
    assert sas.can("w") is None  # the policy on the server decides
    assert sas.display == "cameratrapstuff/your-organization"
    assert sas.query.endswith(f"sig={SIG}")
    assert sas.container_url == f"https://cameratrapstuff.blob.core.windows.net/your-organization?{sas.query}"


def test_url_with_expiry_and_permissions() -> None:
    sas = parse_sas_url(SP_URL)
    assert sas.expiry == datetime(2026, 12, 24, 10, 30, tzinfo=timezone.utc)
    assert sas.start == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert sas.permissions == "racwl"
    assert sas.can("w") is True and sas.can("d") is False
    assert sas.policy_id is None
    assert sas.resource == "c"


def test_path_after_container_is_a_prefix() -> None:
    sas = parse_sas_url(SP_URL.replace("/cams?", "/cams/2024/site%20A/?"))
    assert sas.container == "cams"
    assert sas.prefix == "2024/site A"
    assert sas.display == "acct01/cams/2024/site A"
    assert sas.blob_name("cam1/IMG_0001.JPG") == "2024/site A/cam1/IMG_0001.JPG"
    assert sas.redacted.startswith("https://acct01.blob.core.windows.net/cams/2024/site%20A?")
    assert "/2024/" not in sas.container_url  # the SDK gets the container, the prefix goes in blob names


@pytest.mark.parametrize(
    ("url", "account_url"),
    [
        ("http://127.0.0.1:10000/devstoreaccount1/cams", "http://127.0.0.1:10000/devstoreaccount1"),
        ("http://localhost:10000/devstoreaccount1/cams", "http://localhost:10000/devstoreaccount1"),
        ("http://[::1]:10000/devstoreaccount1/cams", "http://[::1]:10000/devstoreaccount1"),
        # path-style on other hosts too, over https (plain http to them is refused: test_plain_http_*)
        ("https://10.200.1.2:10000/devstoreaccount1/cams", "https://10.200.1.2:10000/devstoreaccount1"),
        ("https://azurite:10000/devstoreaccount1/cams", "https://azurite:10000/devstoreaccount1"),
    ],
)
def test_emulator_path_style(url: str, account_url: str) -> None:
    sas = parse_sas_url(f"{url}?sv=2026-10-06&se=2026-12-01&sp=rcwl&sr=c&sig={SIG}")
    assert sas.is_emulator
    assert sas.account_url == account_url
    assert sas.account_name == "devstoreaccount1"
    assert sas.container == "cams"
    assert sas.expiry == datetime(2026, 12, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "wrapped",
    [
        f'"{TEAM_URL}"',
        f"'{TEAM_URL}'",
        f"<{TEAM_URL}>",
        f"  {TEAM_URL}\r\n",
        f"{TEAM_URL}.",  # end of a sentence in an e-mail
        f"“{TEAM_URL}”",
        TEAM_URL.replace("&", "&amp;"),  # copied out of HTML
    ],
)
def test_pasting_noise_is_forgiven(wrapped: str) -> None:
    sas = parse_sas_url(wrapped)
    assert sas.container == "your-organization"
    assert sas.query.endswith(f"sig={SIG}")


def test_account_sas_for_blobs_is_accepted() -> None:
    sas = parse_sas_url(f"https://acct01.blob.core.windows.net/cams?sv=2022-11-02&ss=b&srt=co&sp=rwl&se=2027-01-01&sig={SIG}")
    assert sas.resource is None and sas.permissions == "rwl"


# ---- bad URLs: one line, what to do ----------------------------------------------------------------


def test_windows_cmd_cut_at_first_ampersand_says_to_quote() -> None:
    message = _bad("https://cameratrapstuff.blob.core.windows.net/your-organization?sv=2020-10-02")
    assert "double quotes" in message and "&" in message


def test_missing_signature() -> None:
    message = _bad("https://cameratrapstuff.blob.core.windows.net/your-organization?sv=2020-10-02&si=x&sr=c")
    assert "signature" in message and "double quotes" in message


def test_plain_http_to_a_real_host_is_refused() -> None:
    message = _bad(TEAM_URL.replace("https://", "http://"))
    assert "https://" in message and "unencrypted" in message


def test_plain_http_to_loopback_is_allowed() -> None:
    sas = parse_sas_url(f"http://127.0.0.1:8080/devstoreaccount1/cams?sv=1&sr=c&sp=rw&sig={SIG}")
    assert sas.account_url == "http://127.0.0.1:8080/devstoreaccount1"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("", "No SAS URL given"),
        ("   ", "No SAS URL given"),
        ("hello", "not a SAS URL"),
        ("ftp://acct.blob.core.windows.net/c?sig=1", "not a SAS URL"),
        ("cameratrapstuff.blob.core.windows.net/your-organization?sv=1&sig=2", "https://"),
        ("https://acct01.blob.core.windows.net/?sv=1&sr=c&sp=r&sig=2", "no container"),
        ("https://acct01.blob.core.windows.net?sv=1&sr=c&sp=r&sig=2", "no container"),
        ("https://acct01.blob.core.windows.net/Your-Org?sv=1&sr=c&sp=r&sig=2", "container name"),
        ("https://acct01.blob.core.windows.net/cams", "access part"),
        ("https://acct01.blob.core.windows.net/cams/a.jpg?sv=1&sr=b&sp=r&sig=2", "single file"),
        ("https://acct01.blob.core.windows.net/cams?sv=1&sp=r&sig=2", "sr="),
        ("https://acct01.blob.core.windows.net/cams?sv=1&sr=c&sig=2", "neither permissions"),
        ("https://acct01.blob.core.windows.net/cams?sv=1&sr=c&sp=rw&se=soon&sig=2", "expiry date"),
        ("https://acct01.blob.core.windows.net/cams?sv=1&sr=c&sp=r%21&sig=2", "permissions"),
        ("https://acct01.blob.core.windows.net/cams?sv=1&ss=q&srt=co&sp=r&sig=2", "another kind"),
        ("https://acct01.blob.core.windows.net/cams/../x?sv=1&sr=c&sp=r&sig=2", ".."),
        ("https://acct01.blob.core.windows.net/cams?sv=1&sr=c&sp=rw&sig=2 3", "space"),
        ("http://[::1/devstoreaccount1/c?sig=2", "not a usable SAS URL"),
        ("https://acct01.blob.core.windows.net:99999/cams?sv=1&sr=c&sp=r&sig=2", "not a usable SAS URL"),
        ("http://127.0.0.1:10000/?sv=1&sr=c&sp=r&sig=2", "names no storage account"),
    ],
)
def test_bad_urls_get_one_plain_line(text: str, expect: str) -> None:
    assert expect in _bad(text)


# ---- never leak the signature ----------------------------------------------------------------------


def test_repr_str_and_redacted_hide_the_signature() -> None:
    sas = parse_sas_url(TEAM_URL)
    for shown in (repr(sas), str(sas), sas.redacted, sas.display, f"{sas}"):
        assert "987897asdf" not in shown
    assert sas.redacted.endswith(f"sig={REDACTED}")


@pytest.mark.parametrize(
    "text",
    [
        f"GET /c?sv=1&sig={SIG}&sr=c",
        f"url=https%3A%2F%2Fa%2Fc%3Fsv%3D1%26sig%3D{SIG}",
        f"nested%26sig%253D{SIG}",
        f"{{'sig': '{SIG}', 'sr': 'c'}}",
        f'{{"SIG": "{SIG}"}}',
        f"SIG={SIG}",
    ],
)
def test_redact_known_shapes(text: str) -> None:
    assert "987897asdf" not in redact(text)


# ---- where the URL comes from ---------------------------------------------------------------------


def test_resolve_from_argument_stdin_and_environment() -> None:
    assert resolve_sas_argument(TEAM_URL, environ={}).container == "your-organization"
    from_stdin = resolve_sas_argument("-", stdin=io.StringIO(f"\n{TEAM_URL}\nignored\n"), environ={})
    assert from_stdin is not None and from_stdin.policy_id == "your-organization-rw"
    from_env = resolve_sas_argument(None, environ={"MDPLAN_SAS": SP_URL})
    assert from_env is not None and from_env.permissions == "racwl"


def test_argument_wins_over_environment() -> None:
    sas = resolve_sas_argument(TEAM_URL, environ={"MDPLAN_SAS": SP_URL})
    assert sas is not None and sas.account_name == "cameratrapstuff"


def test_nothing_given() -> None:
    assert resolve_sas_argument(None, environ={}, required=False) is None
    with pytest.raises(BadInput, match="MDPLAN_SAS"):
        resolve_sas_argument(None, environ={})
    with pytest.raises(BadInput, match="standard input"):
        resolve_sas_argument("-", stdin=io.StringIO("\n\n"), environ={})


def test_bad_url_in_environment_names_the_variable() -> None:
    with pytest.raises(BadInput) as e:
        resolve_sas_argument(None, environ={"MDPLAN_SAS": "https://a.blob.core.windows.net/cams?sv=1"})
    assert str(e.value).startswith("In MDPLAN_SAS:")


# ---- properties -------------------------------------------------------------------------------------

_sig_values = st.binary(min_size=32, max_size=32).map(lambda b: quote(base64.b64encode(b).decode(), safe=""))
_param_names = st.sampled_from(["sv", "si", "sr", "sp", "se", "st", "spr", "sig", "srt", "ss", "x"])
_param_values = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


@st.composite
def _almost_urls(draw: st.DrawFn) -> str:
    """URL-shaped text with random parts: the parser must answer every one with a URL or BadInput."""
    scheme = draw(st.sampled_from(["https://", "http://", "HTTPS://", "", "ftp://", "https:/"]))
    host = draw(
        st.sampled_from(
            ["acct01.blob.core.windows.net", "127.0.0.1:10000", "[::1]:1", "[::1", "h:99999", "", "a.b", "localhost"]
        )
    )
    path = "/".join(draw(st.lists(st.text(max_size=8), max_size=4)))
    params = draw(st.lists(st.tuples(_param_names, _param_values), max_size=8))
    query = "&".join(f"{k}={v}" for k, v in params)
    sep = draw(st.sampled_from(["?", "", "??", "#"]))
    return f"{scheme}{host}/{path}{sep}{query}"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), _almost_urls()))
@example("http://[::1")
@example("https://a.blob.core.windows.net/c\ud800?sig=1")
@example("\x00")
def test_parser_never_fails_with_anything_but_bad_input(text: str) -> None:
    try:
        sas = parse_sas_url(text)
    except BadInput as e:
        assert "\n" not in str(e)
        return
    assert isinstance(sas, SasUrl)
    assert sas.container and sas.query
    assert REDACTED in sas.redacted


@settings(max_examples=300, deadline=None)
@given(before=st.text(), after=st.text(), sig=_sig_values, joiner=st.sampled_from(["?", "&", " ", "\n", '"', "%26"]))
def test_redaction_removes_the_signature_from_any_text(before: str, after: str, sig: str, joiner: str) -> None:
    assume(sig not in before and sig not in after)
    text = f"{before}https://a.blob.core.windows.net/c?sv=2020-10-02{joiner}sig={sig}&sr=c {after}"
    assert sig not in redact(text)


@settings(max_examples=200, deadline=None)
@given(sig=_sig_values, cut=st.integers(min_value=0, max_value=200))
def test_errors_about_damaged_urls_never_carry_the_signature(sig: str, cut: int) -> None:
    url = f"https://acct01.blob.core.windows.net/cams?sv=2020-10-02&si=team-rw&sr=c&sig={sig}"
    damaged = url[:cut] + url[cut + 1 :]  # one character lost anywhere
    try:
        sas = parse_sas_url(damaged)
    except BadInput as e:
        assert sig not in str(e) and sig[:20] not in str(e)
        return
    assert sig[:20] not in repr(sas) and sig[:20] not in sas.redacted
