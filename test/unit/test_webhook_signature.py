"""The webhook signature: HMAC-SHA256 over "<timestamp>.<body>", checked against the raw body and the clock."""
import hashlib
import hmac

from services.ops.outbox import backoff, sign, verify_signature

SECRET = "whsec-unit"
BODY = b'{"type":"job_finished","job_id":"j1","outcome":"done"}'


def test_a_receiver_can_verify_with_the_standard_library_alone():
    header = sign(SECRET, 1_764_600_000, BODY)
    t, v1 = (part.split("=", 1)[1] for part in header.split(","))
    assert t == "1764600000"
    assert v1 == hmac.new(SECRET.encode(), b"1764600000." + BODY, hashlib.sha256).hexdigest()
    assert verify_signature(SECRET, header, BODY, now=1_764_600_010)


def test_tampered_replayed_or_malformed_deliveries_fail():
    header = sign(SECRET, 1_764_600_000, BODY)
    assert not verify_signature(SECRET, header, BODY.replace(b"done", b"fail"), now=1_764_600_000)
    assert not verify_signature("another-secret", header, BODY, now=1_764_600_000)
    assert not verify_signature(SECRET, header, BODY, now=1_764_600_000 + 301)  # an old request replayed
    for bad in (None, "", "t=abc,v1=00", "v1=00", "garbage"):
        assert not verify_signature(SECRET, bad, BODY, now=1_764_600_000)


def test_backoff_doubles_up_to_the_max_then_gives_up():
    from config import Settings

    s = Settings(_env_file=None, webhook_retry_base_seconds=2, webhook_retry_max_seconds=10, webhook_max_attempts=5)
    assert [backoff(s, n) for n in range(1, 6)] == [2, 4, 8, 10, None]
