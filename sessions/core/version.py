"""The one place the version lives; pyproject reads it so the two never drift."""

VERSION = "0.1.0"
