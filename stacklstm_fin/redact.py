"""Warehouse URLs without their secrets: the one function every output path uses.

A URL is parsed with :func:`urllib.parse.urlsplit` and rebuilt from its parts
with every secret replaced by ``***``: the password of the user part (an empty
user included) and the value of a secret query parameter (``?password=``,
``?sslpassword=``, anything naming a pass, secret, token or key).

Two readings of one URL can disagree: ``postgresql://u:pa/ss@host/db`` is
user ``u`` at host ``pa`` for urllib and for libpq (host ``u``, port ``pa``),
and ``u:p@ss@host`` gives libpq the host ``ss@host``. A URL with an ``@`` that
is not the single separator of its user part is therefore *ambiguous*: it is
never shown (only its scheme), and :func:`ambiguity` says why so that the
caller refuses to connect with it rather than let a driver echo a piece of the
password in its error.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus, urlsplit

HIDDEN = "***"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
_SECRET_KEY = re.compile(r"pass|secret|token|key", re.IGNORECASE)
# A secret this short would blank ordinary words of a message; it is still
# never shown by redact_url, which does not search text.
_MIN_SCRUB = 3


def redact_url(url: str) -> str:
    """``url`` for messages, logs and reports: no password, no secret parameter.

    >>> redact_url("postgresql://u@host:1/db?password=S3cret")
    'postgresql://u@host:1/db?password=***'
    >>> redact_url("postgresql://:S3cret@host/db")
    'postgresql://:***@host/db'
    """
    match = _SCHEME.match(url)
    if not match:
        return "<not a URL; not shown>"
    scheme = match.group(1)
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{scheme}://<unparseable; not shown>"
    if ambiguity(url):
        return f"{scheme}://<ambiguous; not shown>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}{':' + HIDDEN if colon else ''}@{hostport}"
    shown = f"{scheme}://{netloc}{parts.path}"
    if parts.query:
        shown += "?" + "&".join(_redact_pair(pair) for pair in parts.query.split("&"))
    if parts.fragment:
        shown += "#" + HIDDEN
    return shown


def ambiguity(url: str) -> str | None:
    """Why ``url`` can be read two ways (``None`` when it cannot).

    DuckDB URLs have no user part and are never ambiguous.
    """
    match = _SCHEME.match(url)
    if not match or match.group(1).lower() == "duckdb":
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a valid URL (an unclosed '[' or a bad IPv6 host)"
    rest = parts.path + parts.query + parts.fragment
    if parts.netloc.count("@") > 1 or ("@" in rest and parts.netloc):
        return (
            "ambiguous: an '@' appears outside the user part; percent-encode reserved characters "
            "in the user and password ('@' as %40, '/' as %2F, '?' as %3F, '#' as %23, "
            "':' as %3A)"
        )
    return None


def secrets_of(url: str) -> list[str]:
    """The secret values in ``url`` (raw and decoded), longest first, to scrub from text."""
    found: set[str] = set()
    match = _SCHEME.match(url)
    rest = url[match.end() :] if match else url
    # The user part as urllib reads it and up to the last '@' (an unencoded '/').
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    for userinfo in (netloc.rpartition("@")[0], rest.rpartition("@")[0]):
        if ":" in userinfo:
            password = userinfo.partition(":")[2]
            found.update({password, unquote(password)})
    query = rest.partition("?")[2]
    for pair in query.split("&"):
        key, eq, value = pair.partition("=")
        if eq and _SECRET_KEY.search(unquote_plus(key)):
            found.update({value, unquote_plus(value)})
    return sorted((s for s in found if len(s) >= _MIN_SCRUB), key=len, reverse=True)


def scrub(text: str, *urls: str | None) -> str:
    """``text`` with every secret of ``urls`` replaced by ``***``."""
    for url in urls:
        if not url:
            continue
        for secret in secrets_of(url):
            text = text.replace(secret, HIDDEN)
    return text


def _redact_pair(pair: str) -> str:
    key, eq, _value = pair.partition("=")
    if eq and _SECRET_KEY.search(unquote_plus(key)):
        return f"{key}={HIDDEN}"
    return pair
