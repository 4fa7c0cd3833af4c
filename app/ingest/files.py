"""Reading STIX from files for bulk ingest: bundles, TAXII envelopes, JSON arrays, single objects or JSON
lines, optionally gzip-compressed — streamed, so memory does not grow with the file.

Reading a whole 50 MB bundle with ``orjson.loads`` and holding its objects took 345 MB of peak RSS; this reader
decodes one object at a time from a chunked buffer (``json.JSONDecoder.raw_decode``), so the caller holds only
the envelope it is about to submit."""

import codecs
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_CHUNK = 1 << 20  # characters read per refill
_LARGEST_VALUE = 64 << 20  # a single JSON value this long (characters) is refused rather than buffered
_WHITESPACE = " \t\r\n"
_decoder = json.JSONDecoder()


class UnreadableFile(ValueError):
    pass


class _Buffer:
    """A text window over a byte stream, advanced value by value."""

    def __init__(self, path: Path, raw: IO[bytes]) -> None:
        self.path = path
        self._raw = raw
        self._stream: IO[bytes] = raw
        head = raw.read(2)
        raw.seek(0)
        if head == b"\x1f\x8b":
            self._stream = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
        self._text = codecs.getincrementaldecoder("utf-8-sig")()  # drops a byte order mark, as Windows writes
        self._buf = ""
        self._pos = 0
        self._eof = False

    @property
    def bytes_read(self) -> int:
        """Position in the file as stored (compressed, for gzip): what a progress bar can compare to its size."""
        return self._raw.tell()

    def _fill(self, wanted: int = _CHUNK) -> bool:
        if self._eof:
            return False
        try:
            data = self._stream.read(wanted)
            text = self._text.decode(data, final=not data)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise UnreadableFile(f"{self.path}: {exc}") from None
        self._buf = self._buf[self._pos:] + text
        self._pos = 0
        self._eof = not data
        return True

    def peek(self) -> str | None:
        """The next character that is not whitespace (not consumed), or None at the end of the file."""
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return None

    def expect(self, chars: str, where: str) -> str:
        char = self.peek()
        if char is None or char not in chars:
            raise UnreadableFile(f"{self.path}: expected one of {chars!r} {where}, found {char or 'the end'!r}")
        self._pos += 1
        return char

    def value(self, where: str) -> Any:
        """The next JSON value, reading more of the file until it is complete."""
        self.peek()
        wanted = _CHUNK
        while True:
            try:
                value, end = _decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if len(self._buf) - self._pos > _LARGEST_VALUE:
                    raise UnreadableFile(f"{self.path}: {where} is larger than {_LARGEST_VALUE >> 20} MiB") from None
                if not self._fill(wanted):
                    raise UnreadableFile(f"{self.path}: {where} is not JSON ({exc.msg})") from None
                wanted *= 2  # a long value: grow geometrically, so re-decoding it costs O(n) in all
                continue
            if end == len(self._buf) and not self._eof and not isinstance(value, dict | list | str):
                self._fill()  # a number may continue in the next chunk
                continue
            self._pos = end
            return value


class StixFile:
    """A file of STIX objects: iterate for (position, object) in file order, positions counting from 0."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self._buf: _Buffer | None = None
        self._done = False

    @property
    def bytes_read(self) -> int:
        if self._done or self._buf is None:
            return self.size if self._done else 0
        return self._buf.bytes_read

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        with self.path.open("rb") as raw:
            self._buf = _Buffer(self.path, raw)
            yield from _scan(self._buf)
        self._done = True


def _scan(buf: _Buffer) -> Iterator[tuple[int, Any]]:
    first = buf.peek()
    if first == "[":
        buf.expect("[", "")
        yield from _array(buf)
        if buf.peek() is not None:
            raise UnreadableFile(f"{buf.path}: unexpected content after the JSON array")
    elif first == "{":
        yield from _document(buf)
    else:
        raise UnreadableFile(f"{buf.path}: not a STIX bundle, TAXII envelope, JSON array, object or JSON lines")


def _array(buf: _Buffer) -> Iterator[tuple[int, Any]]:
    """The elements of an array whose '[' was consumed, through its ']'."""
    if buf.peek() == "]":
        buf.expect("]", "")
        return
    index = 0
    while True:
        yield index, buf.value(f"object {index}")
        index += 1
        if buf.expect(",]", f"after object {index - 1}") == "]":
            return


def _document(buf: _Buffer) -> Iterator[tuple[int, Any]]:
    """A bundle or envelope (its ``objects`` streamed), a single object, or JSON lines (objects one after the
    other). The first object is read member by member, so a bundle's objects are never all held at once."""
    buf.expect("{", "")
    members: dict[str, Any] = {}
    streamed = False
    while buf.peek() != "}":
        key = buf.value("a member name")
        if not isinstance(key, str):
            raise UnreadableFile(f"{buf.path}: a member name must be a string")
        buf.expect(":", f"after {key!r}")
        if key == "objects" and buf.peek() == "[" and not streamed:
            buf.expect("[", "")
            yield from _array(buf)
            streamed = True
        else:
            members[key] = buf.value(f"member {key!r}")
        if buf.expect(",}", f"after member {key!r}") == "}":
            break
    else:
        buf.expect("}", "")
    if streamed:
        if buf.peek() is not None:
            raise UnreadableFile(f"{buf.path}: unexpected content after the bundle")
        return
    if "type" not in members:
        raise UnreadableFile(f"{buf.path}: not a STIX bundle, TAXII envelope, JSON array, object or JSON lines")
    yield 0, members
    index = 1
    while buf.peek() is not None:  # JSON lines
        yield index, buf.value(f"object {index}")
        index += 1
