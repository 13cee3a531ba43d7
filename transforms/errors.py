"""One exception hierarchy: the CLI turns every :class:`SemaforoError` into a one-line message and exit code 2."""


class SemaforoError(Exception):
    """Base class for errors a user can act on."""


class SettingsError(SemaforoError):
    """A setting is unknown or has an invalid value."""


class SchemaUnavailableError(SemaforoError):
    """The OCDS schema could be neither read from the configured directory nor downloaded."""


class SourceError(SemaforoError):
    """A source could not be read or fetched."""


class LayoutError(SourceError):
    """A bulk file's header matches no known CompraNet layout."""


class ValidationFailed(SemaforoError):
    """Data failed a blocking check; the message names the check and examples."""


class SemaforoWarning(UserWarning):
    """Base class for warnings."""
