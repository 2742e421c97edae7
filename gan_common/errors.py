"""The error type for bad user input, its exit code, and a short summary of a library's error for its message."""

# The exit code of every command for bad input.
EXIT_CODE_INPUT_ERROR = 2


class InputError(Exception):
  """Invalid user input: a config value, a data folder, a workdir or a checkpoint.

  The command-line tools print its message on one line and exit with code 2.
  """


def summarize(error: BaseException, limit: int = 160) -> str:
  """Return an exception's type and the first sentence of its message on one line, cut to `limit` characters with '...'."""
  message = ' '.join(str(error).split())
  first_sentence = message.split('. ')[0]
  if len(first_sentence) > limit:
    first_sentence = first_sentence[:limit].rstrip() + '...'
  return f'{type(error).__name__}: {first_sentence}' if first_sentence else type(error).__name__
