"""Dataset loaders (one module per dataset), image decoding and preprocessing geometry."""
