"""How a value is encrypted: envelope encryption, blind indexes, key providers."""
