"""Writers of the toy world's datasets, one module per dataset, each in its real on-disk format."""
