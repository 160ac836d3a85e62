"""HTTP versions of the emulator's test hooks, under ``/__emulator__/``, for out-of-process use.

Bodies are JSON (a form body works too); answers are JSON. These requests are never logged,
rate limited or faulted.

=======  ==========================  =================================================
POST     claim                       ``{"code"}`` or ``{"pin_id"}`` (neither: newest waiting
                                     pin), optional ``"token"`` -> ``{"token", "pin_id"}``
POST     auto-claim                  ``{"delay": seconds | null}``
POST     faults                      ``{"kind", ...add() options}``, ``{"kind", "rate", "seed"}``
                                     (random) or ``{"sequence": [503, 429, null, "drop"]}``
DELETE   faults                      remove every fault rule
GET      log?client_identifier=ID    the request log
GET      clock                       ``{"now", "offset"}``
POST     clock/advance               ``{"seconds"}`` -> ``{"now", "offset"}``
POST     reset                       back to a fresh emulator
POST     accounts                    ``{"username", ...fields}`` -> ``{"token"}``
POST     revoke                      ``{"token"}``
GET      pins                        every pin, as plex.tv's JSON
GET      jwt/devices                 registered device keys by client identifier
GET      jwt/issued?client_identifier=ID  ``{"tokens": [...]}``: Plex JWTs handed out
GET      jwt/keys                    the signing key set (as ``/api/v2/auth/keys``)
POST     jwt/remove-device           ``{"client_identifier", "revoke_tokens"?}`` (refresh: 1097)
POST     jwt/expire                  ``{"client_identifier"?}`` -> ``{"expired": n}`` (498 on use)
POST     jwt/rotate                  ``{"keep"?}`` -> ``{"kid"}`` of the new signing key
POST     jwt/lifetime                ``{"seconds"}``: lifetime of Plex JWTs issued from now on
=======  ==========================  =================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from plexpin_widget._models import Pin

from ._faults import Faults
from ._messages import EmulatorRequest, EmulatorResponse, json_response
from ._state import Clock

__all__ = ["HookTarget", "handle"]


class HookTarget(Protocol):
    """What the hooks need of the emulator (``PlexTvEmulator`` is one); described here so that
    this module does not import the emulator that imports it."""

    faults: Faults

    @property
    def clock(self) -> Clock: ...

    @property
    def pins(self) -> Mapping[int, Pin]: ...

    def claim_pin(
        self, pin_id: int | None = None, code: str | None = None, token: str | None = None
    ) -> tuple[int, str]: ...

    def auto_claim(self, delay: float | None) -> None: ...

    def request_log(self, client_identifier: str | None = None) -> Sequence[Any]: ...

    def add_account(self, username: str, *, token: str | None = None, **fields: Any) -> str: ...

    def revoke(self, token: str) -> None: ...

    def reset(self) -> None: ...
    def devices(self) -> dict[str, dict[str, Any]]: ...
    def issued_jwts(self, client_identifier: str | None = None) -> list[str]: ...
    def jwks(self) -> dict[str, list[dict[str, str]]]: ...
    def remove_device(self, client_identifier: str, *, revoke_tokens: bool = True) -> None: ...
    def expire_jwts(self, client_identifier: str | None = None) -> int: ...
    def rotate_signing_key(self, keep: int = 2) -> str: ...
    jwt_lifetime: int

_FAULT_OPTIONS = {
    "path_prefix", "method", "count", "status", "retry_after", "delay", "probability", "seed", "code", "message",
}
_RANDOM_OPTIONS = {"seed", "path_prefix", "method", "status", "retry_after", "delay"}
_SEQUENCE_OPTIONS = {"path_prefix", "method", "retry_after", "delay"}


class _BadHook(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _body(request: EmulatorRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    data = request.json_body
    if isinstance(data, dict):
        return data
    if request.form:
        return {key: values[-1] for key, values in request.form.items()}
    raise _BadHook(400, "the body must be a JSON object")


def _options(data: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    unknown = set(data) - allowed
    if unknown:
        raise _BadHook(400, f"unknown option(s): {', '.join(sorted(unknown))}")
    return data


def _claim(emu: HookTarget, data: dict[str, Any]) -> EmulatorResponse:
    pin_id = data.get("pin_id")
    code = data.get("code")
    chosen, token = emu.claim_pin(
        pin_id=int(pin_id) if pin_id is not None else None,
        code=str(code) if code is not None else None,
        token=data.get("token"),
    )
    return json_response(200, {"token": token, "pin_id": chosen})


def _faults(emu: HookTarget, data: dict[str, Any]) -> EmulatorResponse:
    if "sequence" in data:
        steps = data.pop("sequence")
        if not isinstance(steps, list):
            raise _BadHook(400, "sequence must be a list")
        rules = emu.faults.sequence(steps, **_options(data, _SEQUENCE_OPTIONS))
    elif "rate" in data:
        kind, rate = data.pop("kind", "status"), float(data.pop("rate"))
        rules = [emu.faults.random(kind, rate=rate, **_options(data, _RANDOM_OPTIONS))]
    else:
        kind = data.pop("kind", None)
        if not isinstance(kind, str):
            raise _BadHook(400, "kind is required")
        rules = [emu.faults.add(kind, **_options(data, _FAULT_OPTIONS))]
    return json_response(201, {"added": len(rules), "pending": len(emu.faults)})


def _jwt_query(emu: HookTarget, request: EmulatorRequest, name: str) -> EmulatorResponse:
    if name == "devices":
        return json_response(200, emu.devices())
    if name == "issued":
        return json_response(200, {"tokens": emu.issued_jwts(request.query_value("client_identifier"))})
    if name == "keys":
        return json_response(200, emu.jwks())
    raise _BadHook(404, f"no hook GET /__emulator__/jwt/{name}")


def _jwt_change(emu: HookTarget, data: dict[str, Any], name: str) -> EmulatorResponse:
    if name == "remove-device":
        emu.remove_device(str(data.get("client_identifier")), revoke_tokens=bool(data.get("revoke_tokens", True)))
        return EmulatorResponse(204)
    if name == "expire":
        client = data.get("client_identifier")
        return json_response(200, {"expired": emu.expire_jwts(None if client is None else str(client))})
    if name == "rotate":
        return json_response(200, {"kid": emu.rotate_signing_key(int(data.get("keep", 2)))})
    if name == "lifetime":
        emu.jwt_lifetime = int(data.get("seconds", 0))
        return json_response(200, {"seconds": emu.jwt_lifetime})
    raise _BadHook(404, f"no hook POST /__emulator__/jwt/{name}")


def _route(emu: HookTarget, request: EmulatorRequest) -> EmulatorResponse:
    name = request.route_path[len("/__emulator__"):].strip("/")
    method = request.method
    if method == "GET" and name == "":
        return json_response(200, {"hooks": __doc__})
    if method == "GET" and name == "pins":
        return json_response(200, [pin.to_json() for pin in emu.pins.values()])
    if method == "GET" and name == "log":
        entries = emu.request_log(request.query_value("client_identifier"))
        return json_response(200, [dataclasses.asdict(entry) for entry in entries])
    if method == "GET" and name == "clock":
        return json_response(200, {"now": emu.clock.now(), "offset": emu.clock.offset})
    if method == "GET" and name.startswith("jwt/"):
        return _jwt_query(emu, request, name[len("jwt/"):])
    if method == "DELETE" and name == "faults":
        emu.faults.clear()
        return EmulatorResponse(204)
    if method != "POST":
        raise _BadHook(404, f"no hook {method} /__emulator__/{name}")
    data = _body(request)
    if name == "claim":
        return _claim(emu, data)
    if name == "auto-claim":
        delay = data.get("delay")
        emu.auto_claim(None if delay is None else float(delay))
        return json_response(200, {"delay": delay})
    if name == "faults":
        return _faults(emu, data)
    if name == "clock/advance":
        emu.clock.advance(float(data.get("seconds", 0)))
        return json_response(200, {"now": emu.clock.now(), "offset": emu.clock.offset})
    if name == "reset":
        emu.reset()
        return EmulatorResponse(204)
    if name == "accounts":
        username = data.pop("username", None)
        if not isinstance(username, str) or not username:
            raise _BadHook(400, "username is required")
        return json_response(201, {"token": emu.add_account(username, **data)})
    if name == "revoke":
        emu.revoke(str(data.get("token")))
        return EmulatorResponse(204)
    if name.startswith("jwt/"):
        return _jwt_change(emu, data, name[len("jwt/"):])
    raise _BadHook(404, f"no hook POST /__emulator__/{name}")


def handle(emu: HookTarget, request: EmulatorRequest) -> EmulatorResponse:
    """Answer one ``/__emulator__/`` request."""
    try:
        return _route(emu, request)
    except _BadHook as exc:
        return json_response(exc.status, {"error": str(exc)})
    except LookupError as exc:  # unknown pin, unknown token (KeyError)
        return json_response(404, {"error": str(exc)})
    except (ValueError, TypeError) as exc:
        return json_response(400, {"error": str(exc)})
