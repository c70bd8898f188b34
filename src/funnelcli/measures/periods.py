"""The calendar periods trends and digests count in; light, so that the CLI can offer them."""

PERIODS = ("month", "week", "quarter")  # weeks are ISO weeks, starting on Monday
COUNTINGS = ("cohort", "flow")  # how trends counts: leads by the period they entered, or entries per period
DIGEST_PERIODS = ("week", "month")  # the periods of the digest (report)
COMPARES = ("previous", "none")  # what the digest compares the latest period with
PLAN_PERIODS = ("month", "quarter")  # the periods a plan is for
