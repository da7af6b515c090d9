"""The one error type of the label layer."""


class LabelError(ValueError):
    """A label file (or index entry) that cannot be used: the image's copies become error rows
    at stage `labels`, so that no copy is ever written without its annotations."""
