"""The error type for bad user input."""


class InputError(Exception):
  """Invalid user input: a config value, a data folder, a workdir or a checkpoint.

  The command-line tools print its message on one line and exit with code 2.
  """
