"""API keys: a visible prefix, 256 random bits, stored as an Argon2 hash only."""

from __future__ import annotations

from outbound.accounts.keys import KEY_START, KeyVerifier, make_key, prefix_of


def test_a_key_has_a_findable_prefix_and_is_stored_only_as_a_hash() -> None:
    key = make_key()

    assert key.secret.startswith(key.prefix + "_") and key.prefix.startswith(KEY_START)
    assert prefix_of(key.secret) == key.prefix
    assert key.secret not in key.secret_hash and key.secret_hash.startswith("$argon2id$")
    assert make_key().secret != key.secret


def test_the_verifier_accepts_the_key_and_nothing_like_it() -> None:
    key, verifier = make_key(), KeyVerifier()

    assert verifier.verify(1, key.secret_hash, key.secret)
    assert verifier.verify(1, key.secret_hash, key.secret)  # remembered, same answer
    assert not verifier.verify(1, key.secret_hash, key.secret[:-1] + "x")
    assert not verifier.verify(2, key.secret_hash, make_key().secret)


def test_only_our_shape_of_key_has_a_prefix() -> None:
    assert prefix_of("obk_0123456789ab_rest") == "obk_0123456789ab"
    assert prefix_of("Bearer something") is None
    assert prefix_of("obk_short") is None
