"""Routes: every VirtualService, DestinationRule and Gateway; forms, YAML, preview, audit, rollback.

Pure modules (no Django): documents (building and editing objects), conditions (the routing form's
match syntax), diffing, recorded + whatif (replaying traced requests), annotations (the map's view).
Django: models (revisions), service (the one code path of forms, API and websocket), forms, views,
api, consumers, tasks.
"""
