"""The floor-1 JWT helpers: device keys, JWKs, thumbprints, device JWTs and Plex JWT checks."""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
import subprocess
import sys
import textwrap

import jwt as pyjwt
import pytest

from plexpin_widget import ConfigurationError, JwtUnavailableError, JwtVerificationError
from plexpin_widget import _jwk
from plexpin_widget._jwk import DeviceKey

NOW = 1_800_000_000.0
CLIENT = "client-abc"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def device() -> DeviceKey:
    return DeviceKey.generate()


@pytest.fixture(scope="module")
def plex_key() -> DeviceKey:
    return DeviceKey.generate()


def _plex_claims(device: DeviceKey, **overrides):
    claims = {
        "iss": "plex.tv",
        "aud": ["plex.tv", CLIENT],
        "iat": int(NOW),
        "exp": int(NOW) + 7 * 86400,
        "thumbprint": device.kid,
        "user": {"id": 1, "uuid": "u", "username": "demo"},
        "scope": _jwk.DEFAULT_SCOPE,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


# ------------------------------------------------------------------ keys and JWKs


def test_public_jwk_has_exactly_the_members_plex_expects(device):
    jwk = device.public_jwk
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert len(base64.urlsafe_b64decode(jwk["x"] + "=")) == 32
    assert "=" not in jwk["x"]


def test_kid_is_the_rfc7638_thumbprint(device):
    jwk = device.public_jwk
    canonical = '{"crv":"Ed25519","kty":"OKP","x":"%s"}' % jwk["x"]
    assert device.kid == _b64url(hashlib.sha256(canonical.encode()).digest())
    assert len(device.kid) == 43
    assert _jwk.jwk_thumbprint(jwk) == device.kid


def test_rfc7638_thumbprint_matches_the_rfc8037_example():
    # RFC 8037 appendix A.3: the thumbprint of its Ed25519 example key.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert _jwk.jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_two_generated_keys_differ():
    assert DeviceKey.generate().kid != DeviceKey.generate().kid


def test_custom_kid_is_kept_and_validated():
    key = DeviceKey.generate(kid="a" * 64)
    assert key.public_jwk["kid"] == "a" * 64
    with pytest.raises(ConfigurationError, match="kid"):
        DeviceKey.generate(kid="")


@pytest.mark.parametrize("export", ["to_pem", "to_jwk_bytes"])
def test_private_key_round_trips_through_storage(device, export):
    data = getattr(device, export)()
    again = DeviceKey.load(data)
    assert again == device
    assert again.public_jwk == device.public_jwk
    # The reloaded key signs tokens the original's public key verifies.
    token = again.sign_device_jwt(CLIENT, now=NOW)
    assert _jwk.verify_device_jwt(token, device.public_jwk, client_identifier=CLIENT, now=NOW)["iss"] == CLIENT


def test_jwk_storage_keeps_a_custom_kid_and_pem_accepts_one():
    key = DeviceKey.generate(kid="hex" * 10)
    assert DeviceKey.load(key.to_jwk_bytes()).kid == "hex" * 10
    assert DeviceKey.load(key.to_pem(), kid="hex" * 10) == key
    assert DeviceKey.load(key.to_pem()).kid == _jwk.jwk_thumbprint(key.public_jwk)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"not a key", "PEM or a JSON private JWK"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a readable private key"),
        (b"{nope", "not valid JSON"),
        (b'{"kty":"OKP","crv":"Ed25519","x":"AA"}', "no private part"),
        (b'{"kty":"RSA","crv":"Ed25519","x":"AA","d":"AA"}', "Ed25519"),
    ],
)
def test_unreadable_key_data_is_a_configuration_error(data, words):
    with pytest.raises(ConfigurationError, match=words):
        DeviceKey.load(data)


def test_jwk_whose_x_does_not_match_d_is_refused(device):
    other = json.loads(DeviceKey.generate().to_jwk_bytes())
    other["x"] = device.public_jwk["x"]
    with pytest.raises(ConfigurationError, match="does not belong"):
        DeviceKey.load(json.dumps(other))


def test_an_rsa_pem_is_refused():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigurationError, match="not an Ed25519 key"):
        DeviceKey.load(pem)


def test_repr_and_errors_never_show_private_bytes(device):
    private = json.loads(device.to_jwk_bytes())["d"]
    assert repr(device) == f"DeviceKey(kid={device.kid!r})"
    assert private not in repr(device) and private not in str(device)
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(device)
    broken = device.to_jwk_bytes().replace(b'"x"', b'"y"')
    with pytest.raises(ConfigurationError) as info:
        DeviceKey.load(broken)
    assert private not in str(info.value)


def test_public_key_from_jwk_checks_the_key_shape():
    with pytest.raises(ConfigurationError, match="32-byte"):
        _jwk.public_key_from_jwk({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})
    with pytest.raises(ConfigurationError, match="JSON object"):
        _jwk.public_key_from_jwk("x")  # type: ignore[arg-type]


# ------------------------------------------------------------------ device JWTs


def test_device_jwt_header_and_claims(device):
    token = device.sign_device_jwt(CLIENT, now=NOW, nonce="n-1")
    header = pyjwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "kid": device.kid, "typ": "JWT"}
    claims = _jwk.unverified_claims(token)
    assert claims == {
        "aud": "plex.tv",
        "iss": CLIENT,
        "iat": int(NOW),
        "exp": int(NOW) + 300,
        "scope": _jwk.DEFAULT_SCOPE,
        "nonce": "n-1",
    }
    # An independent verifier (PyJWT with the raw public key) accepts it.
    public = _jwk.public_key_from_jwk(device.public_jwk)
    decoded = pyjwt.decode(token, public, algorithms=["EdDSA"], audience="plex.tv", options={"verify_exp": False, "verify_iat": False})
    assert decoded["iss"] == CLIENT


def test_device_jwt_without_nonce_has_none(device):
    assert "nonce" not in _jwk.unverified_claims(device.sign_device_jwt(CLIENT, now=NOW))


def test_device_jwt_needs_a_client_identifier(device):
    with pytest.raises(ConfigurationError, match="client_identifier"):
        device.sign_device_jwt("", now=NOW)


def test_verify_device_jwt_checks_kid_issuer_audience_lifetime_and_nonce(device):
    jwk = device.public_jwk
    token = device.sign_device_jwt(CLIENT, now=NOW)
    with pytest.raises(JwtVerificationError, match="issuer"):
        _jwk.verify_device_jwt(token, jwk, client_identifier="someone-else", now=NOW)
    with pytest.raises(JwtVerificationError, match="expired"):
        _jwk.verify_device_jwt(token, jwk, client_identifier=CLIENT, now=NOW + 301)
    with pytest.raises(JwtVerificationError, match="future"):
        _jwk.verify_device_jwt(token, jwk, client_identifier=CLIENT, now=NOW - 10)
    with pytest.raises(JwtVerificationError, match="'nonce' claim is missing"):
        _jwk.verify_device_jwt(token, jwk, client_identifier=CLIENT, now=NOW, require_nonce=True)
    with pytest.raises(JwtVerificationError, match="kid"):
        _jwk.verify_device_jwt(token, {**jwk, "kid": "other"}, client_identifier=CLIENT, now=NOW)
    wrong_aud = device.sign({"aud": "example.com", "iss": CLIENT, "iat": int(NOW), "exp": int(NOW) + 60})
    with pytest.raises(JwtVerificationError, match="audience"):
        _jwk.verify_device_jwt(wrong_aud, jwk, client_identifier=CLIENT, now=NOW)
    no_kid = pyjwt.encode({"aud": "plex.tv", "iss": CLIENT, "iat": int(NOW), "exp": int(NOW) + 60}, device.private_key, algorithm="EdDSA")
    with pytest.raises(JwtVerificationError, match="no 'kid'"):
        _jwk.verify_device_jwt(no_kid, jwk, client_identifier=CLIENT, now=NOW)


def test_a_device_jwt_signed_by_another_key_fails_the_signature(device):
    impostor = DeviceKey.generate(kid=device.kid)
    token = impostor.sign_device_jwt(CLIENT, now=NOW)
    with pytest.raises(JwtVerificationError, match="signature"):
        _jwk.verify_device_jwt(token, device.public_jwk, client_identifier=CLIENT, now=NOW)


def test_a_tampered_payload_fails_the_signature(device):
    header, _, signature = device.sign_device_jwt(CLIENT, now=NOW).split(".")
    forged = _b64url(json.dumps({"aud": "plex.tv", "iss": CLIENT, "iat": int(NOW), "exp": int(NOW) + 9999}).encode())
    with pytest.raises(JwtVerificationError, match="signature"):
        _jwk.verify_device_jwt(f"{header}.{forged}.{signature}", device.public_jwk, client_identifier=CLIENT, now=NOW)


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "e30.e30.e30"])
def test_garbage_is_a_verification_error(device, token):
    with pytest.raises(JwtVerificationError):
        _jwk.verify_device_jwt(token, device.public_jwk, client_identifier=CLIENT, now=NOW)


def test_alg_none_and_hs256_are_refused(device):
    none_token = pyjwt.encode({"iss": CLIENT}, None, algorithm="none")
    hs_token = pyjwt.encode({"iss": CLIENT}, device.public_jwk["x"], algorithm="HS256", headers={"kid": device.kid})
    for token in (none_token, hs_token):
        with pytest.raises(JwtVerificationError, match="EdDSA"):
            _jwk.verify_jwt(token, [device.public_jwk], audience="plex.tv", issuer=CLIENT, now=NOW)


# ------------------------------------------------------------------ Plex JWTs


def test_verify_plex_jwt_accepts_a_good_token_against_any_key_of_the_set(device, plex_key):
    old_key = DeviceKey.generate()
    token = plex_key.sign(_plex_claims(device))
    # plex.tv lists several keys and rotates; the signing key may be anywhere in the list.
    jwks = {"keys": [plex_key.public_jwk, old_key.public_jwk, {"kty": "RSA", "n": "x", "e": "AQAB"}]}
    claims = _jwk.verify_plex_jwt(token, jwks, client_identifier=CLIENT, kid=device.kid, now=NOW)
    assert claims["user"]["username"] == "demo"
    assert _jwk.verify_plex_jwt(token, jwks["keys"][::-1], client_identifier=CLIENT, kid=device.kid, now=NOW)


def test_verify_plex_jwt_allows_a_minute_of_skew_and_no_more(device, plex_key):
    jwks = {"keys": [plex_key.public_jwk]}
    token = plex_key.sign(_plex_claims(device, iat=int(NOW) + 30))
    assert _jwk.verify_plex_jwt(token, jwks, client_identifier=CLIENT, kid=device.kid, now=NOW)
    ahead = plex_key.sign(_plex_claims(device, iat=int(NOW) + 90))
    with pytest.raises(JwtVerificationError, match="future"):
        _jwk.verify_plex_jwt(ahead, jwks, client_identifier=CLIENT, kid=device.kid, now=NOW)
    just_expired = plex_key.sign(_plex_claims(device, exp=int(NOW) - 30))
    assert _jwk.verify_plex_jwt(just_expired, jwks, client_identifier=CLIENT, kid=device.kid, now=NOW)
    expired = plex_key.sign(_plex_claims(device, exp=int(NOW) - 61))
    with pytest.raises(JwtVerificationError, match="expired"):
        _jwk.verify_plex_jwt(expired, jwks, client_identifier=CLIENT, kid=device.kid, now=NOW)


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"iss": "evil.example"}, "issuer"),
        ({"aud": ["someone-else"]}, "audience"),
        ({"aud": CLIENT}, None),  # a bare client-id audience is one of ours: accepted
        ({"thumbprint": None}, "'thumbprint' claim is missing"),
        ({"exp": None}, "'exp' claim is missing"),
        ({"iat": None}, "'iat' claim is missing"),
        ({"thumbprint": "another-device"}, "another device key"),
        ({"exp": "tomorrow"}, "not a number"),
    ],
)
def test_verify_plex_jwt_names_the_failed_check(device, plex_key, overrides, words):
    token = plex_key.sign(_plex_claims(device, **overrides))
    check = lambda: _jwk.verify_plex_jwt(  # noqa: E731
        token, {"keys": [plex_key.public_jwk]}, client_identifier=CLIENT, kid=device.kid, now=NOW
    )
    if words is None:
        assert check()["aud"] == CLIENT
        return
    with pytest.raises(JwtVerificationError, match=words) as info:
        check()
    assert token not in str(info.value)


def test_verify_plex_jwt_signed_by_an_unpublished_key_fails(device, plex_key):
    token = DeviceKey.generate().sign(_plex_claims(device))
    with pytest.raises(JwtVerificationError, match="none of the keys"):
        _jwk.verify_plex_jwt(token, {"keys": [plex_key.public_jwk]}, client_identifier=CLIENT, kid=device.kid, now=NOW)
    with pytest.raises(JwtVerificationError, match="'keys' list"):
        _jwk.verify_plex_jwt(token, {"nope": []}, client_identifier=CLIENT, kid=device.kid, now=NOW)
    with pytest.raises(JwtVerificationError, match="no Ed25519 key"):
        _jwk.verify_plex_jwt(token, {"keys": []}, client_identifier=CLIENT, kid=device.kid, now=NOW)


def test_verify_uses_the_system_clock_by_default(device, plex_key):
    import time

    now = time.time()
    token = plex_key.sign(_plex_claims(device, iat=int(now), exp=int(now) + 600))
    assert _jwk.verify_plex_jwt(token, {"keys": [plex_key.public_jwk]}, client_identifier=CLIENT, kid=device.kid)


def test_python_plexapi_style_verification_accepts_our_tokens(device, plex_key):
    """PyJWT used as python-plexapi uses it (PyJWK.from_dict, no leeway) accepts what we sign."""
    import time

    now = int(time.time())
    token = plex_key.sign(_plex_claims(device, iat=now, exp=now + 7 * 86400))
    decoded = pyjwt.decode(
        token,
        key=pyjwt.PyJWK.from_dict(plex_key.public_jwk),
        algorithms=["EdDSA"],
        options={"require": ["aud", "iss", "exp", "iat", "thumbprint"]},
        audience=["plex.tv", CLIENT],
        issuer="plex.tv",
    )
    assert decoded["thumbprint"] == device.kid


# ------------------------------------------------------------------ without the extra


def test_without_pyjwt_the_package_imports_and_jwt_use_names_the_extra(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        sys.modules["jwt"] = None  # as if PyJWT were not installed
        import plexpin_widget
        from plexpin_widget import _jwk, JwtUnavailableError, ConfigurationError
        assert _jwk.jwt_available() is False
        try:
            _jwk.DeviceKey.generate()
        except JwtUnavailableError as exc:
            assert isinstance(exc, ConfigurationError)
            print(exc)
        else:
            raise SystemExit("no error")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "pip install 'plexpin-widget[jwt]'" in result.stdout
    assert "PyJWT" in result.stdout


def test_without_cryptography_the_error_names_it():
    script = "import sys; sys.modules['cryptography'] = None\nfrom plexpin_widget import _jwk\n_jwk.require_jwt()"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "JwtUnavailableError" in result.stderr and "cryptography is not installed" in result.stderr


def test_jwt_available_with_the_extra():
    assert _jwk.jwt_available() is True
    assert issubclass(JwtUnavailableError, ConfigurationError)
