"""The health app stores nothing: every report is measured when asked (see dashboard.health.service)."""
