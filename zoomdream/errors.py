"""The error a user's mistake raises anywhere in zoomdream."""


class ConfigError(ValueError):
    """A mistake in a preset, an override or a command-line value: one line that names
    the key or value at fault. The command line prints it and exits with status 2."""
