"""``rest``: JSON over HTTP (httpx).

Pagination by ``page`` number, ``offset``, opaque ``cursor`` (read from the response by a JSON
path) or the ``Link: <…>; rel="next"`` header; the records of a page are selected by a JSON
path (``data.items``, ``$.results[*]``). Authentication from the keychain: bearer token, basic
(user name in the file, password in the keychain) or an API key in a header or the query.
Timeouts; retries with exponential backoff on 429 and 5xx and on network errors, honouring
``Retry-After``. Incremental with ``since_param`` + ``since_field``: the newest value of that
field seen in a complete run is sent back as the parameter on the next one. A stopped run
paged by cursor or next link resumes at the page after its last checkpoint; one paged by
``page`` or ``offset`` starts again at the first page (keeping the run's start and ``since``),
because rows deleted from pages already read move later rows back into them. A full extract
paged that way says so to the runner, which confirms with a fresh listing the records the read
did not see before marking them deleted. Within a read, rows deleted or moved on (a list in
update order) make later rows move back, and one may cross a page boundary unread: an
incremental ``page`` or ``offset`` read asks each page before the last again, and where it ends
with another row now the run keeps the ``since`` it began with, so nothing is lost for good.
A cursor is followed while the answer gives one, empty pages included (a scan answers some
mid-way); an empty page naming the cursor just sent ends the read. A pagination that loops
(a cursor or next link seen before, the same page of records twice, a new cursor with each
of 1,000 empty pages in a row) stops the run with an error, and so does a redirect to another
server when the source has credentials.

Source settings: ``base_url``, ``auth`` (``{ type = "bearer" | "basic" | "api_key", secret =
"NAME", username = …, header = …, query_param = … }``), ``headers``, ``timeout`` (s, default
30), ``max_retries`` (default 5), ``backoff`` (first wait, s, default 0.5), ``max_backoff``
(longest wait, s, default 60). Stream settings: ``path``, ``params``, ``records``,
``pagination`` (``{ type = "page" | "offset" | "cursor" | "link" | "none", param, size_param,
size, start, cursor_path }``), ``since_param``, ``since_field``.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

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
# A cursor read goes on past empty pages (a scan answers some mid-way), but not forever: a
# change feed that hands out a new cursor with every empty answer would never end.
MAX_EMPTY_CURSOR_PAGES = 1000


def _row_digest(row: Any) -> bytes:
    text = json.dumps(row, sort_keys=True, default=str).encode()
    return hashlib.blake2b(text, digest_size=16).digest()


def check(config: SourceConfig, key: str) -> None:
    base = config.settings.get("base_url")
    if not isinstance(base, str) or not base.startswith(("http://", "https://")):
        raise ConfigError('a rest source needs base_url = "https://…"', f"{key}.base_url")
    try:
        url = httpx.URL(base)
    except httpx.InvalidURL:
        url = None
    if url is None or not url.host:
        raise ConfigError("base_url is not a usable address", f"{key}.base_url")
    if url.password or any(_secret_like(name) for name in url.params):
        raise ConfigError(_NO_SECRET, f"{key}.base_url")
    auth = config.settings.get("auth")
    if auth is not None:
        if not isinstance(auth, Mapping) or auth.get("type") not in _AUTH:
            raise ConfigError(f"auth.type is one of {', '.join(_AUTH)}", f"{key}.auth")
        if not isinstance(auth.get("secret"), str):
            raise ConfigError('auth needs secret = "NAME" (a keychain entry)', f"{key}.auth")
        if auth["type"] == "basic" and not isinstance(auth.get("username"), str):
            raise ConfigError("basic auth needs username", f"{key}.auth")
        for name in ("header", "query_param"):
            _text(auth, name, f"{key}.auth")
    for name in ("timeout", "backoff", "max_backoff"):
        value = config.settings.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{name} is a number of seconds", f"{key}.{name}")
    _count(config.settings, "max_retries", f"{key}.max_retries", minimum=0)
    _table_of_values(config.settings, "headers", f"{key}.headers")
    if any(_secret_like(name) for name in config.settings.get("headers", {})):
        raise ConfigError(_NO_SECRET, f"{key}.headers")
    for stream in config.streams:
        where = f"{key}.streams.{stream.name}"
        if not isinstance(stream.options.get("path"), str):
            raise ConfigError('a rest stream needs path = "/customers"', f"{where}.path")
        _table_of_values(stream.options, "params", f"{where}.params")
        if any(_secret_like(name) for name in stream.options.get("params", {})):
            raise ConfigError(_NO_SECRET, f"{where}.params")
        for name in ("records", "since_param", "since_field"):
            _text(stream.options, name, f"{where}.{name}")
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
        for name in ("param", "size_param", "cursor_path"):
            _text(pagination, name, f"{where}.pagination")
        _count(pagination, "size", f"{where}.pagination", minimum=1)
        _count(pagination, "start", f"{where}.pagination", minimum=0)
        if ("since_param" in stream.options) != ("since_field" in stream.options):
            raise ConfigError("since_param and since_field go together", where)
        if stream.full_extract and "since_param" in stream.options:
            # An incremental read lists only what changed: the sweep after a full extract would
            # mark every other record deleted.
            raise ConfigError(
                "full_extract reads everything; it cannot be combined with since_param",
                f"{where}.full_extract",
            )


_NO_SECRET = (
    'secrets never go in the sources file: use auth = { type = "api_key", header = …, '
    'secret = "NAME" } (or query_param = …) and `customer-card sources set-secret NAME`'
)
_SECRET_NAME = re.compile(r"authorization|token|secret|passw|api[-_]?key|apikey|signature")


def _secret_like(name: str) -> bool:
    """A header or query parameter whose value would be a credential."""
    return bool(_SECRET_NAME.search(str(name).lower()))


def _text(table: Mapping[str, Any], name: str, key: str) -> None:
    if name in table and not isinstance(table[name], str):
        raise ConfigError(f"{name} is text", key)


def _count(table: Mapping[str, Any], name: str, key: str, *, minimum: int) -> None:
    value = table.get(name, minimum)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} is a whole number, at least {minimum}", key)


def _table_of_values(table: Mapping[str, Any], name: str, key: str) -> None:
    value = table.get(name, {})
    if not isinstance(value, Mapping) or not all(
        isinstance(v, str | int | float) for v in value.values()
    ):
        raise ConfigError(f'{name} is a table such as {{ Name = "value" }}', key)


def create(config: SourceConfig, secrets: SecretLookup) -> RestConnector:
    return RestConnector(config, secrets)


def json_path(document: Any, path: str | None) -> Any:
    """A small JSON path: ``$.data.items``, ``data.items[*]``, ``results.0.id``."""
    text = _path_text(path)
    if not text:
        return document
    return lookup(document, text) if "." in text else _get(document, text)


def _path_text(path: str | None) -> str:
    """A JSON path as the dotted text :func:`lookup` walks (empty: the document itself)."""
    if not path:
        return ""
    text = path.removeprefix("$").removeprefix(".").replace("[*]", "")
    return text.replace("[", ".").replace("]", "")


def _absent(document: Any, path: str | None) -> bool:
    """Whether a JSON path names something the document does not have (a null is there)."""
    text = _path_text(path)
    if not text or (isinstance(document, Mapping) and text in document):
        return False
    value = document
    for part in text.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return True
    return False


def _holds_records(document: Any, depth: int = 4) -> bool:
    """Whether a JSON answer holds a list of objects somewhere (records a path could select)."""
    if isinstance(document, list):
        return bool(document) and isinstance(document[0], Mapping)
    if isinstance(document, Mapping) and depth:
        return any(_holds_records(value, depth - 1) for value in document.values())
    return False


def _shown(url: str) -> str:
    """A URL as messages show it: without its query and fragment (an API key may travel in the
    query: ``auth.query_param``, or a next link copying the request's) nor user info."""
    text = str(url).split("#", 1)[0].split("?", 1)[0]
    return re.sub(r"^([a-zA-Z][\w+.-]*://)[^/@]*@", r"\1", text)


def _asked(response: httpx.Response, params: Mapping[str, Any] | None) -> str:
    """The request an error answered, as messages show it: its path and the paging parameters
    this source added (which page failed), never the query of the URL itself (a next link may
    copy an API key into it) nor the source's own parameters (the API key's)."""
    path = response.request.url.path
    return f"{path}?{urlencode(dict(params))}" if params else path


def _outline(document: Any) -> str:
    """What a JSON answer holds, for an error message."""
    if isinstance(document, Mapping):
        keys = list(document)
        more = ", …" if len(keys) > 10 else ""
        return f"an object with {', '.join(map(str, keys[:10])) or 'no keys'}{more}"
    if isinstance(document, list):
        return 'a list (records = "$" selects it)'
    return "null" if document is None else f"a single {type(document).__name__}"


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


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")


def _page_param(pagination: Mapping[str, Any], kind: str) -> str:
    return str(pagination.get("param", kind))


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
        # Headers of the source's own (a cookie, a tenant key…) stay with its server too.
        self.own_headers = bool(headers)
        headers.setdefault("Accept", "application/json")
        params: dict[str, str] = {}
        auth: httpx.Auth | None = None
        spec = s.get("auth")
        self.secret_name: str | None = str(spec["secret"]) if spec else None
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
            event_hooks={"response": [self._refuse_redirect_elsewhere]},
        )
        self.requests = 0  # for tests and benchmarks: how many HTTP requests were sent

    def passes(self) -> tuple[str, ...]:
        return ordered_streams(self.streams)

    def close(self) -> None:
        self._client.close()

    def _same_origin(self, url: str) -> bool:
        here, there = httpx.URL(self.base_url), httpx.URL(url)
        return (here.scheme, here.host, here.port) == (there.scheme, there.host, there.port)

    def _refuse_redirect_elsewhere(self, response: httpx.Response) -> None:
        """Called on every answer, before httpx follows a redirect: the client sends this
        source's credentials and headers with every request (an API key header survives a
        redirect to another host), so it never follows one to another server."""
        if (self.secret_name is None and not self.own_headers) or not (
            response.has_redirect_location
        ):
            return
        target = response.url.join(response.headers["Location"])
        if not self._same_origin(str(target)):
            raise ConnectorError(
                f"{self.name}: {response.url.path} redirects to another server "
                f"({_origin(target)}); not following it with this source's "
                "credentials or headers (set base_url to the API's own address)"
            )

    def _refused(self, response: httpx.Response) -> ConnectorError:
        status = f"{response.request.url.path}: access refused ({response.status_code})"
        if self.secret_name is None:
            return ConnectorError(
                f"{self.name}: {status}; the source has no auth settings: add "
                'auth = { type = …, secret = "NAME" }'
            )
        return ConnectorError(
            f"{self.name}: {status}; check the secret {self.secret_name!r} (store it again "
            f"with `customer-card sources set-secret {self.secret_name}`)"
        )

    def get(self, url: str, params: Mapping[str, Any] | None) -> httpx.Response:
        """GET with retries; raises ConnectorError when the server keeps failing or refuses."""
        # A URL's own query (a next link's ``?page=2``, a path with parameters) goes with the
        # request's parameters: httpx drops it when the client has parameters of its own (an
        # API key in the query), and every next link then read the first page again, forever.
        target = httpx.URL(url)
        query: list[tuple[str, Any]] = list(target.params.multi_items())
        if query:
            url = str(target.copy_with(query=None))
        query += list((params or {}).items())
        attempt = 0
        while True:
            self.requests += 1
            try:
                response = self._client.get(url, params=query or None)
            except httpx.TransportError as error:
                if attempt >= self.max_retries:
                    raise ConnectorError(
                        f"{self.name}: {self.base_url} unreachable ({error})"
                    ) from None
                wait = None
            except httpx.RequestError as error:  # too many redirects, an undecodable body
                raise ConnectorError(
                    f"{self.name}: {_shown(url)}: {error or type(error).__name__}"
                ) from None
            else:
                if response.status_code not in _RETRY_STATUS:
                    if response.status_code in (401, 403):
                        raise self._refused(response)
                    if response.is_error:
                        raise ConnectorError(
                            f"{self.name}: {_asked(response, params)} answered "
                            f"{response.status_code} {response.reason_phrase}"
                        )
                    return response
                if attempt >= self.max_retries:
                    raise ConnectorError(
                        f"{self.name}: {_asked(response, params)} still answers "
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
        # A page number or an offset names a place in a list that moves: when the server deletes
        # rows from pages already read, the rows after them move back into those pages, and a
        # read resumed at the saved position would skip them (for an incremental stream, for
        # good once a newer ``since`` is saved). A stopped page or offset read therefore starts
        # again at the first page; a cursor or a next link names a place that stays put.
        shifting = kind in ("page", "offset")
        resuming = in_run and not shifting
        started = state.get("started_at") if in_run else None
        started_at = datetime.fromisoformat(started) if started else self.now()
        since = state.get("since")
        newest = state.get("newest") if in_run else since
        since_param = stream.options.get("since_param")
        since_field = stream.options.get("since_field")
        # Where the next request goes: a page number, an offset, a cursor or a URL.
        position: Any = state.get("next") if resuming else None
        if position is None:
            position = {"page": int(pagination.get("start", 1)), "offset": 0}.get(kind)
        path = str(stream.options["path"])

        def snapshot(done: bool) -> dict[str, Any]:
            out: dict[str, Any] = {"in_run": not done, "started_at": started_at.isoformat()}
            if since_field:
                # (A read that may have missed a row keeps the ``since`` it began with: the
                # next run asks for the same changes again.)
                out["since"] = newest if done and not uncertain else since
                out["newest"] = newest
            if not done:
                out["next"] = position
            return out

        records_path = stream.options.get("records")
        # The first answer of a stream's first read shows whether the records path is right:
        # a mistyped one would read as an empty source, every run. It is wrong when the answer
        # lacks it but holds records elsewhere; an answer with no records anywhere is an empty
        # one (some APIs leave out empty lists), then and later.
        first = not state
        # Loops: the cursors and next-page URLs of this read, the digest of the last page.
        visited: set[str] = set()
        last_page: bytes | None = None
        empty_in_a_row = 0
        # A page number or an offset names a place in a list that moves: where the server
        # deletes rows, or moves a changed one on (a list in update order), while the read is
        # under way, the rows after them move back, and the one that crosses a page boundary
        # is not read (for an incremental stream, for good once a newer ``since`` is saved).
        # An incremental page or offset read therefore asks each page before the last again:
        # where it ends with another row now, the run keeps the ``since`` it began with
        # (``uncertain``), and the next run asks for these changes again.
        checking = bool(since_field) and kind in ("page", "offset")
        uncertain = False
        # The page before: how it was asked, and its rows (by id, else by content). (A row
        # that crossed a boundary unread may hold any value: nothing the read saw bounds it,
        # so the run keeps the ``since`` it began with, not a later one.)
        previous: tuple[dict[str, Any], list[str]] | None = None
        served = 0  # the longest answer: a server may cap its pages under ``size``

        def identity(row: Any) -> str:
            if isinstance(row, Mapping):
                source_id = stream.mapping.source_id(row)
                if source_id:
                    return "id:" + source_id
            return "row:" + _row_digest(row).hex()

        def page_of(url: str, params: dict[str, Any]) -> tuple[httpx.Response, Any, list[Any]]:
            nonlocal first
            response = self.get(url, params)
            try:
                document = response.json()
            except (ValueError, RecursionError):  # (nested too deep for the parser)
                what = response.headers.get("Content-Type", "no content type")
                start = " ".join(response.text[:60].split())
                raise ConnectorError(
                    f"{self.name}/{name}: {_shown(url)} did not answer JSON ({what}, "
                    f"starting {start!r})"
                ) from None
            if first and _absent(document, records_path) and _holds_records(document):
                raise ConnectorError(
                    f"{self.name}/{name}: records path {records_path!r} selects nothing in the "
                    f"answer of {_shown(url)}, which is {_outline(document)}"
                )
            first = False
            records = json_path(document, records_path)
            if records is None:
                records = []
            if not isinstance(records, list):
                selects = f"records path {records_path!r} selects" if records_path else "is"
                raise ConnectorError(
                    f"{self.name}/{name}: the answer of {_shown(url)} {selects} "
                    f"{_outline(records)}, "
                    'not a list of records (set records = "…" to where the list is)'
                )
            return response, document, records

        while True:
            params: dict[str, Any] = dict(stream.options.get("params", {}))
            if since_param and since:
                params[str(since_param)] = since
            url = path
            if kind == "page":
                params[_page_param(pagination, kind)] = position
                if "size_param" in pagination:
                    params[str(pagination["size_param"])] = size
            elif kind == "offset":
                params[_page_param(pagination, kind)] = position
                params[str(pagination.get("size_param", "limit"))] = size
            elif kind == "cursor" and position:
                params[str(pagination.get("param", "cursor"))] = position
            elif kind == "link" and position:
                url, params = str(position), {}
            if kind == "cursor" and position:
                visited.add(str(position))
            response, document, records = page_of(url, params)
            if kind in ("page", "offset") and records:
                digest = _row_digest(records)
                if digest == last_page:
                    if len(records) < served:
                        # The last, short page again: a server that answers past the end
                        # with its last page (rounding offsets to its pages). Read to the end.
                        break
                    raise ConnectorError(
                        f"{self.name}/{name}: {_page_param(pagination, kind)}={position} "
                        "answered the same records as the page before: the server does not "
                        "read that parameter (check pagination.param); stopped rather than "
                        "read the same page forever"
                    )
                last_page = digest
            served = max(served, len(records))
            if checking and previous is not None and not uncertain:
                again = page_of(url, previous[0])[2]
                if [identity(r) for r in again] != previous[1]:
                    log.warning(
                        "%s/%s: the list moved under the read (the next run asks for "
                        "these changes again)",
                        self.name,
                        name,
                    )
                    uncertain = True
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
            if checking:
                previous = (dict(params), [identity(r) for r in records]) if records else None
            # The next position, or the end.
            # Page and offset reads end on an empty page, not a short one: a server that caps
            # its page size below ours would otherwise look finished after its first page
            # (and a full extract would then mark everything else deleted).
            if kind == "page":
                position = None if not records else position + 1
            elif kind == "offset":
                position = None if not records else position + len(records)
            elif kind == "cursor":
                # Followed while the server gives one, past empty pages (a scan answers some
                # mid-way); an empty page that names the cursor just sent is the end.
                following = json_path(document, str(pagination["cursor_path"]))
                ended = not records and str(following) == str(position)
                position = following if following and not ended else None
                empty_in_a_row = 0 if records else empty_in_a_row + 1
                if position is not None and empty_in_a_row >= MAX_EMPTY_CURSOR_PAGES:
                    raise ConnectorError(
                        f"{self.name}/{name}: {empty_in_a_row:,} empty pages in a row, each with "
                        "a new cursor: the server never says the read is over; stopped"
                    )
                if position is not None and str(position) in visited:
                    raise ConnectorError(
                        f"{self.name}/{name}: the server sent cursor {str(position)[:100]!r} "
                        "again: its pagination loops; stopped"
                    )
            elif kind == "link":
                visited.add(str(response.url))
                following = response.links.get("next", {}).get("url")
                position = str(response.url.join(following)) if following else None
                if position is not None and not self._same_origin(position):
                    # The client sends our credentials with every request: never elsewhere.
                    raise ConnectorError(
                        f"{self.name}/{name}: the next page is on another server "
                        f"({_shown(position)}); "
                        "not following it with this source's credentials"
                    )
                if position is not None and position in visited:
                    raise ConnectorError(
                        f"{self.name}/{name}: the server names {_shown(position)} as the next page "
                        "again: its pagination loops; stopped"
                    )
            else:
                position = None
            if position is None:
                break
            yield Checkpoint(self.name, name, snapshot(False))
        final = snapshot(True)
        if stream.full_extract:
            # A page or offset read stopped mid-way started again at the first page, so this
            # pass saw every row: only a resumed cursor or link read needs its ids listed again.
            yield ExtractComplete(
                self.name, name, stream.kind, started_at, final, resuming, shifting=shifting
            )
        else:
            yield Checkpoint(self.name, name, final)

    def ids(self, name: str) -> Iterator[str]:
        for item in self.read(name, None):
            if isinstance(item, SourceRecord | Rejected) and item.source_id:
                yield item.source_id
