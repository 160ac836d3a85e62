"""The XML forms of plex.tv's answers, built from the same dicts the JSON forms use.

plex.tv answers XML unless asked for JSON, and python-plexapi reads only XML, so these shapes
follow what python-plexapi parses: one root element whose attributes are the object's fields,
booleans as ``0``/``1``, nested objects as child elements. ElementTree does all escaping.
"""

from __future__ import annotations

import datetime as _dt
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any

from plexpin_widget._models import parse_timestamp

__all__ = ["errors_xml", "pin_xml", "resources_xml", "user_xml"]

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _set_attributes(element: ET.Element, fields: Mapping[str, Any], *, none_as_empty: bool = False) -> None:
    """Scalar fields become attributes; ``None`` is left out (or written ``""``), containers skipped.

    Leaving ``None`` out matters: python-plexapi casts boolean attributes with a function
    that accepts a missing attribute but raises on ``""``.
    """
    for key, value in fields.items():
        if isinstance(value, (Mapping, list, tuple)):
            continue
        if value is None:
            if none_as_empty:
                element.set(key, "")
            continue
        element.set(key, _text(value))


def _document(root: ET.Element) -> str:
    return _DECLARATION + ET.tostring(root, encoding="unicode")


def _xml_datetime(value: Any) -> str | None:
    """``2024-06-20 06:55:56 UTC``: the way plex.tv's XML writes dates that JSON writes as ISO."""
    stamp = parse_timestamp(value)
    if stamp is None:
        return None
    return stamp.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def errors_xml(error: Mapping[str, Any]) -> str:
    """``<errors><error code=".." message=".." status=".."/></errors>``.

    The message is also the element text, as in the captured 422 ``Invalid token`` body.
    """
    root = ET.Element("errors")
    child = ET.SubElement(root, "error")
    _set_attributes(child, error)
    child.text = str(error.get("message", ""))
    return _document(root)


def pin_xml(pin: Mapping[str, Any]) -> str:
    """``<pin id=.. code=.. authToken="" ...><location .../></pin>``; unset values are ``""``."""
    fields = dict(pin)
    for key in ("createdAt", "expiresAt"):
        if fields.get(key):
            fields[key] = _xml_datetime(fields[key])
    root = ET.Element("pin")
    _set_attributes(root, fields, none_as_empty=True)
    location = pin.get("location")
    if isinstance(location, Mapping):
        _set_attributes(ET.SubElement(root, "location"), location)
    return _document(root)


def _id_list(parent: ET.Element, container: str, item: str, values: Iterable[Any]) -> None:
    holder = ET.SubElement(parent, container)
    for value in values:
        if isinstance(value, Mapping):
            _set_attributes(ET.SubElement(holder, item), value)
        else:
            ET.SubElement(holder, item, {"id": _text(value)})


def user_xml(user: Mapping[str, Any]) -> str:
    """The account as python-plexapi's ``MyPlexAccount._loadData`` reads it.

    It needs a ``scrobbleTypes`` attribute, ``<subscription>`` and ``<profile>`` children,
    epoch seconds for ``joinedAt``/``rememberExpiresAt`` and ``subscribedAt`` written as
    ``%Y-%m-%d %H:%M:%S UTC``.
    """
    root = ET.Element("user")
    fields = dict(user)
    fields.setdefault("scrobbleTypes", "")
    _set_attributes(root, fields)

    subscription = dict(user.get("subscription") or {})
    if subscription.get("subscribedAt"):
        subscription["subscribedAt"] = _xml_datetime(subscription["subscribedAt"])
    sub_element = ET.SubElement(root, "subscription")
    _set_attributes(sub_element, subscription)
    _id_list(sub_element, "features", "feature", subscription.get("features") or ())

    _set_attributes(ET.SubElement(root, "profile"), user.get("profile") or {})
    _id_list(root, "entitlements", "entitlement", user.get("entitlements") or ())
    _id_list(root, "roles", "role", user.get("roles") or ())
    for container, item in (
        ("subscriptions", "subscription"),
        ("pastSubscriptions", "subscription"),
        ("trials", "trial"),
        ("services", "service"),
    ):
        _id_list(root, container, item, user.get(container) or ())
    return _document(root)


def resources_xml(resources: Iterable[Mapping[str, Any]]) -> str:
    """``<resources><resource ...><connections><connection .../></connections></resource></resources>``."""
    root = ET.Element("resources")
    for resource in resources:
        element = ET.SubElement(root, "resource")
        _set_attributes(element, resource)
        holder = ET.SubElement(element, "connections")
        for connection in resource.get("connections") or ():
            _set_attributes(ET.SubElement(holder, "connection"), connection)
    return _document(root)
