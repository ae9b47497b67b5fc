"""A vendor's failure: transient (retried), bad input (not retried), or no data.

- **transient**: the network (a host that does not resolve, a refused or reset
  connection, a timeout) or the vendor saying "later" (HTTP 429, HTTP 5xx,
  yfinance's ``YFRateLimitError``). Retried with backoff.
- **bad input**: HTTP 4xx other than 429, and a vendor exception about the
  request itself (a duplicate symbol, an invalid period). Retrying cannot help.
- **no data**: the vendor answered but had no rows ("possibly delisted; no
  price data found"). Retried, as before: Yahoo's gaps are sometimes brief.

yfinance 1.7 hides the real cause: with no network it logs ``Failed to get
ticker 'AAPL' reason: ... Could not resolve host ...`` and then reports the
ticker as "possibly delisted; no timezone found". :func:`describe` turns the
cause into one readable line; the source prefers it to the vendor's guess.
"""

from __future__ import annotations

import re

TRANSIENT = "transient"
BAD_INPUT = "bad input"
NO_DATA = "no data"

_HTTP = re.compile(r"HTTP Error (\d{3})|\b(\d{3}) (?:Client|Server) Error")
_NETWORK = re.compile(
    r"Could not resolve|Failed to perform, curl|Failed to connect|timed? ?out|Timeout|"
    r"ConnectionError|Connection (?:refused|reset|aborted)|DNSError|Network is unreachable|"
    r"No route to host|SSLError|Too Many Requests|Rate ?limit",
    re.IGNORECASE,
)
_NO_DATA = re.compile(r"possibly delisted|no price data|no timezone|no rows", re.IGNORECASE)
_VENDOR_CLASS = re.compile(r"\bYF\w*(?:Error|Exception)\b")
_CURL_NOISE = re.compile(
    r"\s*See https://curl\.se/libcurl/c/libcurl-errors\.html first for more details\.?"
)


def http_status(exc: BaseException | None = None, text: str = "") -> int | None:
    """The HTTP status of a vendor exception (its response) or named in ``text``."""
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    if isinstance(code, int) and 100 <= code <= 599:
        return code
    match = _HTTP.search(text or (str(exc) if exc is not None else ""))
    return int(match.group(1) or match.group(2)) if match else None


def _kind_of_status(status: int) -> str:
    return TRANSIENT if status == 429 or status >= 500 else BAD_INPUT


def classify_exception(exc: BaseException) -> str | None:
    """The kind of an exception raised by a whole vendor call; ``None`` for a bug."""
    from yfinance.exceptions import YFException, YFRateLimitError

    status = http_status(exc)
    if status is not None and status >= 400:
        return _kind_of_status(status)
    if isinstance(exc, YFRateLimitError | OSError):  # OSError: DNS, connect, timeout
        return TRANSIENT
    if isinstance(exc, YFException):
        return BAD_INPUT
    return None


def classify_reason(text: str) -> str:
    """The kind of a per-ticker reason (yfinance logs them as text)."""
    status = http_status(text=text)
    if status is not None and status >= 400:
        return _kind_of_status(status)
    if _NETWORK.search(text):
        return TRANSIENT
    if _NO_DATA.search(text):
        return NO_DATA
    if _VENDOR_CLASS.search(text):
        return BAD_INPUT
    return NO_DATA


def retried(kind: str) -> bool:
    return kind != BAD_INPUT


def describe(text: str) -> str:
    """One line naming the real cause: an unreachable host, an HTTP status, else ``text``."""
    text = " ".join(_CURL_NOISE.sub("", text).split())
    host = re.search(r"Could not resolve host:? ([\w.\-]+)", text)
    if host:
        return f"host unreachable: cannot resolve {host.group(1).rstrip('.')} (no network or DNS)"
    refused = re.search(r"Failed to connect to ([\w.\-]+)", text)
    if refused:
        return f"host unreachable: cannot connect to {refused.group(1)} ({text})"
    status = http_status(text=text)
    if status is not None and status >= 400:
        what = "rate limited" if status == 429 else _kind_of_status(status)
        return f"HTTP {status} ({what}): {text}"
    return text
