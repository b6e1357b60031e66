"""The error every config problem raises."""


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key or file."""
