"""The error hierarchy raised by the domain and services.

Every message names the thing, the values and the way out; the CLI prints it as one red line
and the web layer maps the class to a status code.
"""


class GuanxiError(Exception):
    """Base class for errors a user can act on."""


class NotFound(GuanxiError):
    """The thing asked for does not exist."""


class InvalidInput(GuanxiError):
    """Input that cannot be accepted as it is."""


class Conflict(GuanxiError):
    """The request contradicts what is stored."""


class NotAllowed(GuanxiError):
    """The actor may not do this."""


class ConfigError(GuanxiError):
    """The configuration cannot be used; the message says what to change."""
