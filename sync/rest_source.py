"""``rest``: JSON over HTTP (httpx).

Pagination by ``page`` number, ``offset``, opaque ``cursor`` (read from the response by a JSON
path) or the ``Link: <…>; rel="next"`` header; the records of a page are selected by a JSON
path (``data.items``, ``$.results[*]``). Authentication from the keychain: bearer token, basic
(user name in the file, password in the keychain) or an API key in a header or the query.
Timeouts; retries with exponential backoff on 429 and 5xx and on network errors, honouring
``Retry-After``. Incremental with ``since_param`` + ``since_field``: the newest value of that
field seen in a complete run is sent back as the parameter on the next one. A stopped run
resumes at the page after its last checkpoint.

Source settings: ``base_url``, ``auth`` (``{ type = "bearer" | "basic" | "api_key", secret =
"NAME", username = …, header = …, query_param = … }``), ``headers``, ``timeout`` (s, default
30), ``max_retries`` (default 5), ``backoff`` (first wait, s, default 0.5), ``max_backoff``
(longest wait, s, default 60). Stream settings: ``path``, ``params``, ``records``,
``pagination`` (``{ type = "page" | "offset" | "cursor" | "link" | "none", param, size_param,
size, start, cursor_path }``), ``since_param``, ``since_field``.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from sync.connector import (
    ConnectorError,
    ExtractComplete,
    Item,
    Rejected,
    SecretLookup,
    map_row,
    ordered_streams,
)
from sync.mapping import ConfigError, lookup
from sync.records import Checkpoint, SourceRecord

if TYPE_CHECKING:
    from sync.sources import SourceConfig

log = logging.getLogger(__name__)

SOURCE_KEYS = frozenset(
    {"base_url", "auth", "headers", "timeout", "max_retries", "backoff", "max_backoff"}
)
STREAM_KEYS = frozenset({"path", "params", "records", "pagination", "since_param", "since_field"})
_PAGINATIONS = ("page", "offset", "cursor", "link", "none")
_AUTH = ("bearer", "basic", "api_key")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def check(config: SourceConfig, key: str) -> None:
    base = config.settings.get("base_url")
    if not isinstance(base, str) or not base.startswith(("http://", "https://")):
        raise ConfigError('a rest source needs base_url = "https://…"', f"{key}.base_url")
    auth = config.settings.get("auth")
    if auth is not None:
        if not isinstance(auth, Mapping) or auth.get("type") not in _AUTH:
            raise ConfigError(f"auth.type is one of {', '.join(_AUTH)}", f"{key}.auth")
        if not isinstance(auth.get("secret"), str):
            raise ConfigError('auth needs secret = "NAME" (a keychain entry)', f"{key}.auth")
        if auth["type"] == "basic" and not isinstance(auth.get("username"), str):
            raise ConfigError("basic auth needs username", f"{key}.auth")
    for name in ("timeout", "backoff", "max_backoff"):
        value = config.settings.get(name, 1)
        if not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{name} is a number of seconds", f"{key}.{name}")
    for stream in config.streams:
        where = f"{key}.streams.{stream.name}"
        if not isinstance(stream.options.get("path"), str):
            raise ConfigError('a rest stream needs path = "/customers"', f"{where}.path")
        pagination = stream.options.get("pagination", {"type": "none"})
        if not isinstance(pagination, Mapping) or pagination.get("type") not in _PAGINATIONS:
            raise ConfigError(
                f"pagination.type is one of {', '.join(_PAGINATIONS)}", f"{where}.pagination"
            )
        if pagination["type"] == "cursor" and not pagination.get("cursor_path"):
            raise ConfigError(
                "cursor pagination needs cursor_path (where the next cursor is)",
                f"{where}.pagination",
            )
        if ("since_param" in stream.options) != ("since_field" in stream.options):
            raise ConfigError("since_param and since_field go together", where)


def create(config: SourceConfig, secrets: SecretLookup) -> RestConnector:
    return RestConnector(config, secrets)


def json_path(document: Any, path: str | None) -> Any:
    """A small JSON path: ``$.data.items``, ``data.items[*]``, ``results.0.id``."""
    if not path or path in ("$", "$[*]"):
        return document
    text = path.removeprefix("$").removeprefix(".").replace("[*]", "")
    text = text.replace("[", ".").replace("]", "")
    return lookup(document, text) if "." in text else _get(document, text)


def _get(document: Any, name: str) -> Any:
    return document.get(name) if isinstance(document, Mapping) else None


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class RestConnector:
    def __init__(
        self,
        config: SourceConfig,
        secrets: SecretLookup,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = config.name
        self.streams = config.streams
        s = config.settings
        self.base_url = str(s["base_url"]).rstrip("/")
        self.timeout = float(s.get("timeout", 30))
        self.max_retries = int(s.get("max_retries", 5))
        self.backoff = float(s.get("backoff", 0.5))
        self.max_backoff = float(s.get("max_backoff", 60))
        self.sleep = sleep
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        headers = {str(k): str(v) for k, v in dict(s.get("headers", {})).items()}
        headers.setdefault("Accept", "application/json")
        params: dict[str, str] = {}
        auth: httpx.Auth | None = None
        spec = s.get("auth")
        if spec:
            secret = secrets(str(spec["secret"]))
            if spec["type"] == "bearer":
                headers["Authorization"] = f"Bearer {secret}"
            elif spec["type"] == "basic":
                auth = httpx.BasicAuth(str(spec["username"]), secret)
            elif spec.get("query_param"):
                params[str(spec["query_param"])] = secret
            else:
                headers[str(spec.get("header", "X-API-Key"))] = secret
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            params=params,
            auth=auth,
            timeout=self.timeout,
            transport=transport,
            follow_redirects=True,
        )
        self.requests = 0  # for tests and benchmarks: how many HTTP requests were sent

    def passes(self) -> tuple[str, ...]:
        return ordered_streams(self.streams)

    def close(self) -> None:
        self._client.close()

    def _same_origin(self, url: str) -> bool:
        here, there = httpx.URL(self.base_url), httpx.URL(url)
        return (here.scheme, here.host, here.port) == (there.scheme, there.host, there.port)

    def get(self, url: str, params: Mapping[str, Any] | None) -> httpx.Response:
        """GET with retries; raises ConnectorError when the server keeps failing or refuses."""
        attempt = 0
        while True:
            self.requests += 1
            try:
                response = self._client.get(url, params=dict(params) if params else None)
            except httpx.TransportError as error:
                if attempt >= self.max_retries:
                    raise ConnectorError(
                        f"{self.name}: {self.base_url} unreachable ({error})"
                    ) from None
                wait = None
            else:
                if response.status_code not in _RETRY_STATUS:
                    if response.status_code in (401, 403):
                        raise ConnectorError(
                            f"{self.name}: access refused ({response.status_code}); check the "
                            "credentials stored in the keychain"
                        )
                    if response.is_error:
                        raise ConnectorError(
                            f"{self.name}: {response.request.url.path} answered "
                            f"{response.status_code} {response.reason_phrase}"
                        )
                    return response
                if attempt >= self.max_retries:
                    raise ConnectorError(
                        f"{self.name}: {response.request.url.path} still answers "
                        f"{response.status_code} after {attempt + 1} tries"
                    )
                wait = retry_after(response.headers.get("Retry-After"))
            delay = self.backoff * (2**attempt) if wait is None else wait
            delay = min(delay, self.max_backoff)
            log.info("%s: retrying in %.2f s (try %d)", self.name, delay, attempt + 2)
            self.sleep(delay)
            attempt += 1

    def read(self, name: str, state: Mapping[str, Any] | None) -> Iterator[Item]:
        stream = next(s for s in self.streams if s.name == name)
        state = dict(state or {})
        pagination = dict(stream.options.get("pagination", {"type": "none"}))
        kind = pagination["type"]
        size = int(pagination.get("size", 100))
        in_run = bool(state.get("in_run"))
        started = state.get("started_at") if in_run else None
        started_at = datetime.fromisoformat(started) if started else self.now()
        since = state.get("since")
        newest = state.get("newest") if in_run else since
        since_param = stream.options.get("since_param")
        since_field = stream.options.get("since_field")
        # Where the next request goes: a page number, an offset, a cursor or a URL.
        position: Any = state.get("next") if in_run else None
        if position is None:
            position = {"page": int(pagination.get("start", 1)), "offset": 0}.get(kind)
        path = str(stream.options["path"])

        def snapshot(done: bool) -> dict[str, Any]:
            out: dict[str, Any] = {"in_run": not done, "started_at": started_at.isoformat()}
            if since_field:
                out["since"] = newest if done else since
                out["newest"] = newest
            if not done:
                out["next"] = position
            return out

        while True:
            params: dict[str, Any] = dict(stream.options.get("params", {}))
            if since_param and since:
                params[str(since_param)] = since
            url = path
            if kind == "page":
                params[str(pagination.get("param", "page"))] = position
                if "size_param" in pagination:
                    params[str(pagination["size_param"])] = size
            elif kind == "offset":
                params[str(pagination.get("param", "offset"))] = position
                params[str(pagination.get("size_param", "limit"))] = size
            elif kind == "cursor" and position:
                params[str(pagination.get("param", "cursor"))] = position
            elif kind == "link" and position:
                url, params = str(position), {}
            response = self.get(url, params)
            try:
                document = response.json()
            except ValueError:
                raise ConnectorError(f"{self.name}/{name}: {url} did not answer JSON") from None
            records = json_path(document, stream.options.get("records"))
            if records is None:
                records = []
            if not isinstance(records, list):
                raise ConnectorError(
                    f"{self.name}/{name}: records path {stream.options.get('records')!r} "
                    "does not select a list"
                )
            for row in records:
                if not isinstance(row, Mapping):
                    yield Rejected(
                        self.name, name, stream.kind, None, repr(row)[:2000], "not a JSON object"
                    )
                    continue
                item = map_row(self.name, stream, row)
                if since_field:
                    value = lookup(row, str(since_field))
                    if value is not None and (newest is None or str(value) > str(newest)):
                        newest = str(value)
                if isinstance(item, Rejected) or stream.mapping.keeps(item):
                    yield item
            # The next position, or the end.
            # Page and offset reads end on an empty page, not a short one: a server that caps
            # its page size below ours would otherwise look finished after its first page
            # (and a full extract would then mark everything else deleted).
            if kind == "page":
                position = None if not records else position + 1
            elif kind == "offset":
                position = None if not records else position + len(records)
            elif kind == "cursor":
                following = json_path(document, str(pagination["cursor_path"]))
                position = following if following and records else None
            elif kind == "link":
                following = response.links.get("next", {}).get("url")
                position = str(response.url.join(following)) if following else None
                if position is not None and not self._same_origin(position):
                    # The client sends our credentials with every request: never elsewhere.
                    raise ConnectorError(
                        f"{self.name}/{name}: the next page is on another server ({position}); "
                        "not following it with this source's credentials"
                    )
            else:
                position = None
            if position is None:
                break
            yield Checkpoint(self.name, name, snapshot(False))
        final = snapshot(True)
        if stream.full_extract:
            yield ExtractComplete(self.name, name, stream.kind, started_at, final, in_run)
        else:
            yield Checkpoint(self.name, name, final)

    def ids(self, name: str) -> Iterator[str]:
        for item in self.read(name, None):
            if isinstance(item, SourceRecord | Rejected) and item.source_id:
                yield item.source_id
