"""Errors raised for files that cannot be read as medical images."""


class ReadError(ValueError):
    """A file or folder that cannot be read; the message names the path and the problem."""

    def __init__(self, path: object, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
