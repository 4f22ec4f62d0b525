import hashlib
import re

from libs.access.apikeys import display_prefix, generate_key, hash_key, looks_like_key


def test_live_keys_are_cs_live_and_32_hex_characters():
    assert re.fullmatch(r"cs_live_[0-9a-f]{32}", generate_key().secret)


def test_test_keys_are_cs_test():
    assert re.fullmatch(r"cs_test_[0-9a-f]{32}", generate_key(test=True).secret)


def test_keys_are_stored_as_sha256_hex():
    key = generate_key()
    assert key.digest == hashlib.sha256(key.secret.encode()).hexdigest() == hash_key(key.secret)
    assert re.fullmatch(r"[0-9a-f]{64}", key.digest)


def test_display_prefix_keeps_the_kind_and_twelve_hex_characters():
    key = generate_key()
    assert key.prefix == key.secret[:20] == display_prefix(key.secret)
    assert re.fullmatch(r"cs_live_[0-9a-f]{12}", key.prefix)


def test_prefixes_do_not_collide_across_many_keys():
    prefixes = {generate_key().prefix for _ in range(20_000)}
    assert len(prefixes) == 20_000


def test_key_shape_check_refuses_malformed_keys():
    assert looks_like_key(generate_key().secret)
    for bad in (
        "",
        "cs_live_",
        "cs_live_" + "g" * 32,
        "cs_prod_" + "a" * 32,
        "cs_live_" + "a" * 33,
        "CS_LIVE_" + "a" * 32,
        "cs_live_" + "a" * 31 + "\n",
    ):
        assert not looks_like_key(bad), bad
