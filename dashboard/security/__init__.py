"""Security: the effective mTLS mode, policies, identity and certificate of every workload; forms
for PeerAuthentications, AuthorizationPolicies and local rate limits.

Pure modules (no Django): posture (what the page shows, resolved as Istio does), documents
(building and editing the objects). Django: forms, views, urls, templates. Writes go through the
routes app's service (dry run, audit log, rollback, `routes.changed`), as every Istio object does.
"""
