"""People on the receiver: face embeddings of stored events, grouped into persons a user can
name, merge, split and forget.  Embeddings never leave the receiver's index (docs/receiver.md)."""
