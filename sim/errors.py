"""Errors the library raises on purpose, each carrying what a user needs to fix it."""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid configuration: one line per problem, each naming field, value and what is allowed.

    Attributes:
        problems: ``(dotted_field, bad_value, allowed)`` triples, in the order found.
    """

    def __init__(self, problems: list[tuple[str, object, str]]):
        self.problems = list(problems)
        super().__init__(self.render())

    def __reduce__(self):
        """Pickle by its problems (a worker process can raise it back to the parent)."""
        return (type(self), (self.problems,))

    def render(self) -> str:
        """The problems as text, one per line."""
        lines = []
        for field, value, allowed in self.problems:
            shown = repr(value) if not isinstance(value, dict | list) else _short(value)
            lines.append(f"invalid configuration: {field} = {shown}: {allowed}")
        return "\n".join(lines)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
