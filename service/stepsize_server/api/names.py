"""Names of namespaces, schedules and tags (SPEC 4)."""

NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$"
NAME_HELP = "lowercase letters, digits and . _ - (not first or last), at most 64 characters"
