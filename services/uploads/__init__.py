"""Materials: streaming uploads into S3, URL materials, listing and deleting them."""
