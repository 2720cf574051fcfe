"""A page as a browser parses it: what the tests read from the app's HTML, and what its edit form would send."""

from __future__ import annotations

from html.parser import HTMLParser


class Parsed(HTMLParser):
    """A page as a browser parses it, as far as these tests look: elements, text, scripts and
    what the edit form would send."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.texts: list[str] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        self.form: list[tuple[str, str]] = []  # the edit form's fields, as submitted
        self._script: tuple[dict[str, str], list[str]] | None = None
        self._textarea: tuple[str, list[str]] | None = None
        self._select = ""
        self._in_edit_form = False
        self.feed(html)
        self.close()

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        self.elements.append((tag, found))
        if tag == "script":
            self._script = (found, [])
        elif tag == "form":
            self._in_edit_form = "form-grid" in found.get("class", "")
        elif (self._in_edit_form and "name" in found) or tag == "option":
            self._field(tag, found)

    def _field(self, tag: str, found: dict[str, str]) -> None:
        if tag == "input" and (found.get("type") not in ("checkbox", "radio") or "checked" in found):
            self.form.append((found["name"], found.get("value", "")))
        elif tag == "textarea":
            self._textarea = (found["name"], [])
        elif tag == "select":
            self._select = found["name"]
        elif tag == "option" and self._in_edit_form and "selected" in found:
            self.form.append((self._select, found.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script[0], "".join(self._script[1])))
            self._script = None
        elif tag == "textarea" and self._textarea is not None:
            self.form.append((self._textarea[0], "".join(self._textarea[1]).removeprefix("\n")))
            self._textarea = None
        elif tag == "form":
            self._in_edit_form = False

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script[1].append(data)
            return
        if self._textarea is not None:
            self._textarea[1].append(data)
        self.texts.append(data)
