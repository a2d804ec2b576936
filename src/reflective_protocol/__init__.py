"""The HTTP wire protocol shared by the server and the SDK: request and response Structs,
the enums they carry, and the machine-readable error codes. msgspec and the standard library
only, so that either side can import it without the other's dependencies."""
