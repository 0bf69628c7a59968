"""Helpers shared by the test suite: free ports, deadlines, starting and stopping real processes."""
