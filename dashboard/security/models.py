"""No tables of its own: security objects live in the mesh's store, their history in the routes
app's revisions (one audit log for every Istio object)."""
