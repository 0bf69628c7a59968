"""Accounts: login/logout, the viewer and operator roles, the first admin."""
