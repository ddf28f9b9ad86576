import pytest

from protocol.codes import Code
from protocol.errors import IntegrityError
from protocol.handshake import Role
from protocol.resume import epoch_channel, resume_secret, secret_matches, verifier_for
from tests.protocol.test_session import connect


@pytest.fixture
def keys():
    host, viewer, *_ = connect()
    return host.keys, viewer.keys


def test_each_side_derives_what_the_other_can_check_and_the_relay_only_sees_hashes(keys):
    host_keys, viewer_keys = keys
    secret = resume_secret(host_keys, Role.HOST, 0)
    assert resume_secret(viewer_keys, Role.HOST, 0) == secret
    verifier = verifier_for(secret)
    assert secret_matches(secret, verifier)
    assert secret not in (host_keys.send_key, host_keys.receive_key, host_keys.resume_key)


def test_wrong_stale_or_other_side_secret_is_refused(keys):
    host_keys, _ = keys
    verifier = verifier_for(resume_secret(host_keys, Role.HOST, 1))
    assert not secret_matches(resume_secret(host_keys, Role.HOST, 0), verifier)  # stale
    assert not secret_matches(resume_secret(host_keys, Role.VIEWER, 1), verifier)
    assert not secret_matches(bytes(32), verifier)
    other_host, *_ = connect(
        host_code=Code("482139", "111111"), viewer_code=Code("482139", "111111")
    )
    assert not secret_matches(resume_secret(other_host.keys, Role.HOST, 1), verifier)


def test_a_new_epoch_has_fresh_keys_and_counters(keys):
    host_keys, viewer_keys = keys
    old_host, old_viewer = epoch_channel(host_keys, 0), epoch_channel(viewer_keys, 0)
    sealed_old = old_host.seal(b"before the gap")
    host, viewer = epoch_channel(host_keys, 1), epoch_channel(viewer_keys, 1)
    assert viewer.open(host.seal(b"after the gap")) == b"after the gap"
    assert host.open(viewer.seal(b"ack")) == b"ack"
    with pytest.raises(IntegrityError):
        epoch_channel(viewer_keys, 2).open(sealed_old)
    assert old_viewer.open(sealed_old) == b"before the gap"
