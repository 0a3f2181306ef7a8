"""What every rendered page must hold to, read from its HTML: ids used once, times shown one way."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser


class _PageReader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: Counter[str] = Counter()
        self.times: list[tuple[str, str]] = []
        self._time: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids[attributes["id"]] += 1
        if tag == "time":
            self._time = (attributes.get("datetime") or "", [])

    def handle_endtag(self, tag):
        if tag == "time" and self._time is not None:
            machine, text = self._time
            self.times.append((machine, " ".join("".join(text).split())))
            self._time = None

    def handle_data(self, data):
        if self._time is not None:
            self._time[1].append(data)


def read_page(html: str) -> _PageReader:
    reader = _PageReader()
    reader.feed(html)
    reader.close()
    return reader


def duplicate_ids(html: str) -> dict[str, int]:
    """Each id that more than one element of the page carries, with how many do."""
    return {name: n for name, n in read_page(html).ids.items() if n > 1}


def shown_times(html: str) -> list[tuple[str, str]]:
    """Every <time> of the page: (its datetime attribute, the text a person reads)."""
    return read_page(html).times
