"""Request and response models, one module per resource (camelCase on the wire)."""
