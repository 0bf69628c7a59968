"""Pure builders: model objects in, Envoy v3 resources out (as protobuf messages).

Each builder writes the resource in Envoy's JSON form, which reads like Envoy's documentation,
and `to_message` turns it into the protobuf message (so a misspelled field fails loudly here,
not as a NACK from Envoy).
"""
