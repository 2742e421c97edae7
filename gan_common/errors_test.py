"""Tests of the one-line summary of library errors."""

from gan_common import errors


def test_summarize_keeps_first_sentence():
  error = RuntimeError('Weights only load failed.  In PyTorch 2.6, we changed\na default. More text.')
  assert errors.summarize(error) == 'RuntimeError: Weights only load failed'


def test_summarize_cuts_long_sentence():
  summary = errors.summarize(ValueError('x' * 500), limit=20)
  assert summary == 'ValueError: ' + 'x' * 20 + '...'


def test_summarize_of_empty_message_is_the_type():
  assert errors.summarize(KeyError()) == 'KeyError'
