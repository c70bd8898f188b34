"""The calendar periods trends and digests count in; light, so that the CLI can offer them."""

PERIODS = ("month", "week", "quarter")  # weeks are ISO weeks, starting on Monday
