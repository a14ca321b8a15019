"""What Azure's answers mean (planner.azure.errors), as pure logic on constructed SDK exceptions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from azure.core.exceptions import DecodeError, HttpResponseError, ServiceResponseError

from planner.azure import classify, is_transient, map_azure_error
from planner.errors import SasProblem
from planner.sas import parse_sas_url


def _sas(expiry: datetime):
    se = quote(expiry.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return parse_sas_url(f"https://acct01.blob.core.windows.net/cams?sv=1&se={se}&sr=c&sp=rwl&sig=c2VjcmV0c2VjcmV0%3D")


def _answer(status: int, code: str, message: str = "") -> HttpResponseError:
    e = HttpResponseError(message=message or code)
    e.status_code = status
    e.error_code = code
    return e


def test_a_refusal_right_around_the_expiry_is_called_expired_not_a_damaged_url():
    """The service's clock runs a little ahead of this computer's: the URL expires mid-upload and the
    service refuses the signature a minute before `se` here. That is the expiry, with the way on."""
    now = datetime.now(timezone.utc)
    refused = _answer(403, "AuthenticationFailed", "Server failed to authenticate the request.")
    for expiry in (now - timedelta(seconds=5), now + timedelta(minutes=2)):
        mapped = map_azure_error(refused, _sas(expiry))
        assert isinstance(mapped, SasProblem)
        assert "expired" in str(mapped) and "changed or cut" not in str(mapped)
        assert "new URL" in str(mapped) and "carry on" in str(mapped)
    far = map_azure_error(refused, _sas(now + timedelta(days=30)))
    assert "expired" not in str(far)


def test_a_black_holed_answer_is_transient_not_a_failed_file():
    """A link that drops mid-answer leaves a body that does not parse: azure-core raises DecodeError
    (an HttpResponseError with no usable status). 0.1.0 called that permanent and failed the file."""
    garbled = DecodeError("Unexpected return type <class 'str'> from ContentDecodePolicy.deserialize_from_http_generics.")
    assert is_transient(garbled)
    err = classify(garbled, None)
    assert err.kind == "transient" and err.retryable
    assert "Unexpected return type" not in str(err.error)


def test_unknown_transport_exceptions_are_transient_and_answers_about_the_blob_are_not():
    class NeverSeenBefore(Exception):
        pass

    assert classify(NeverSeenBefore("socket weirdness"), None).kind == "transient"
    assert classify(ServiceResponseError("Connection aborted."), None).timeout is False
    assert classify(_answer(409, "BlobAlreadyExists"), None).kind == "exists"
    assert classify(_answer(404, "BlobNotFound"), None).kind == "not_found"
    assert classify(_answer(404, "ContainerNotFound"), None).kind == "sas"
    assert classify(_answer(400, "InvalidResourceName"), None).kind == "refused"
    assert classify(_answer(400, "Md5Mismatch"), None).kind == "checksum"
    assert classify(_answer(503, "ServerBusy"), None).kind == "transient"
    assert classify(_answer(403, "AuthorizationPermissionMismatch"), None).kind == "sas"
    assert not is_transient(FileNotFoundError("D:/cams/x.jpg"))
