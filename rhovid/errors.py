"""The one exception type for a user's mistake: a bad config value, a missing file, a wrong flag.

Raise `UserError` with a single line that names the bad value and the fix. Every command-line entry
point prints such an error as that one line and exits with status 2, without a traceback (set
`RHOVID_DEBUG=1` or pass `--debug` to see it). Anything else is a bug or an environment failure
and keeps its traceback. `UserError` subclasses `ValueError`, so code that catches `ValueError`
(and tests that expect it) keeps working.
"""


class UserError(ValueError):
    """A mistake the user can fix; its message is one line naming the value and the fix."""
