"""The one error type of the front end: a user's input that cannot be imported."""


class FrontendError(Exception):
    """An input the front end cannot import.

    `file` names what the user gave (a path, or `module.path:factory`); `expected` says
    what was expected instead. Rendered as `<file>: <expected>`, one line, which the
    command line prints after `patsparse-import: error: `.
    """

    def __init__(self, file: str, expected: str):
        self.file = str(file)
        self.expected = " ".join(str(expected).split())  # always one line
        super().__init__(f"{self.file}: {self.expected}")
