"""From domain objects to the protocol's Structs (:mod:`reflective_protocol`) and back: the
HTTP edge's mapping, one module per concern. The Structs themselves live in the protocol
package, shared with the SDK; the protocol never imports the domain, so the mapping is here.
"""
