"""Topology: the live service map (poll -> TrafficMap -> appenders -> snapshot -> websocket)."""
