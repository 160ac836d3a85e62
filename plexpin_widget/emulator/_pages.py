"""The pages a person sees in a browser: ``/link`` (type a short code) and ``/auth`` (approve a
strong code from the URL fragment). Pure functions from values to HTML text.

Every value from outside (usernames, codes, product names) goes through :func:`html.escape`;
the ``/auth`` script writes the product name with ``textContent`` only. Element ids are a
contract with browser tests: the code input is ``#code``, the button ``#approve`` and the
outcome ``#result`` (its text contains "linked" on success and never otherwise).
"""

from __future__ import annotations

import html

__all__ = ["auth_page", "index_page", "link_page", "result_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; } .who { color: #555; } .error { color: #b00020; } .ok { color: #1b5e20; }
input[type=text] { font: 1.4rem monospace; letter-spacing: .2rem; padding: .3rem; width: 100%; box-sizing: border-box; }
button { font-size: 1.1rem; padding: .4rem 1.2rem; margin-top: 1rem; }
.banner { background: #fff3cd; padding: .4rem .6rem; font-size: .9rem; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _layout(title: str, body: str, script: str = "") -> str:
    script_tag = f"<script>{script}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        "<p class=\"banner\">plex.tv emulator: a local stand-in for tests and demos.</p>"
        f"{body}{script_tag}</body></html>\n"
    )


def _who(username: str) -> str:
    return f"<p class=\"who\">Signed in as <b id=\"username\">{_e(username)}</b></p>"


def _result(message: str, *, ok: bool) -> str:
    css = "ok" if ok else "error"
    role = "status" if ok else "alert"
    return f"<p id=\"result\" class=\"{css}\" role=\"{role}\">{_e(message)}</p>"


def index_page(username: str) -> str:
    """``GET /``: where things are."""
    body = (
        "<h1>plex.tv emulator</h1>"
        f"{_who(username)}"
        "<ul><li><a href=\"/link\">Link a device with its 4-character code</a></li>"
        "<li>API: <code>/api/v2/pins</code>, <code>/api/v2/user</code>, <code>/api/v2/resources</code></li>"
        "<li>Test hooks: <code>/__emulator__/</code></li></ul>"
    )
    return _layout("plex.tv emulator", body)


def link_page(username: str, code: str = "", error: str | None = None) -> str:
    """``GET /link``: a form to type the short code shown on the device (prefilled by ``?pin=``)."""
    body = (
        "<h1>Link a device</h1>"
        f"{_who(username)}"
        "<form method=\"post\" action=\"/link\">"
        "<label for=\"code\">Enter the code shown on your device</label>"
        f"<input type=\"text\" id=\"code\" name=\"code\" value=\"{_e(code)}\" maxlength=\"32\" "
        "autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" required autofocus>"
        "<button type=\"submit\" id=\"approve\">Approve</button>"
        "</form>"
        f"{_result(error, ok=False) if error else ''}"
    )
    return _layout("Link a device", body)


# The fragment looks like "#?clientID=..&code=..&context%5Bdevice%5D%5Bproduct%5D=.." (or "#!?"
# from python-plexapi). Values are only ever put in form fields and textContent.
_AUTH_SCRIPT = """
(function () {
  var raw = window.location.hash.replace(/^#!?\\??/, "");
  var params = new URLSearchParams(raw);
  var product = params.get("context[device][product]") || "an app";
  document.getElementById("product").textContent = product;
  document.getElementById("code").value = params.get("code") || "";
  document.getElementById("clientID").value = params.get("clientID") || "";
  document.getElementById("forwardUrl").value = params.get("forwardUrl") || "";
  document.getElementById("approve").disabled = !params.get("code");
})();
"""


def auth_page(username: str) -> str:
    """``GET /auth``: approve the strong code carried in the URL fragment."""
    body = (
        "<h1>Sign in to <span id=\"product\">an app</span></h1>"
        f"{_who(username)}"
        "<form method=\"post\" action=\"/auth\">"
        "<label for=\"code\">Code</label>"
        "<input type=\"text\" id=\"code\" name=\"code\" value=\"\" readonly>"
        "<input type=\"hidden\" id=\"clientID\" name=\"clientID\" value=\"\">"
        "<input type=\"hidden\" id=\"forwardUrl\" name=\"forwardUrl\" value=\"\">"
        "<button type=\"submit\" id=\"approve\">Approve</button>"
        "</form>"
    )
    return _layout("Sign in with Plex", body, _AUTH_SCRIPT)


def result_page(
    username: str,
    *,
    ok: bool,
    message: str,
    again: str | None = None,
    forward_url: str | None = None,
) -> str:
    """The outcome of an approval: ``#result`` says "linked" on success, or what went wrong."""
    parts = ["<h1>" + ("Device linked" if ok else "Could not approve the code") + "</h1>", _who(username)]
    parts.append(_result(message, ok=ok))
    if forward_url and forward_url.lower().startswith(("http://", "https://")):
        parts.append(f"<p><a id=\"forward\" href=\"{_e(forward_url)}\">Return to the app</a></p>")
    if again:
        parts.append(f"<p><a href=\"{_e(again)}\">Try another code</a></p>")
    return _layout("Device linked" if ok else "Could not approve", "".join(parts))
