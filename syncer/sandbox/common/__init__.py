"""What the four vendors' sandboxes share, written once: control routes (`control`), the request
log (`requestlog`), rate limiting (`ratelimit`), runtime knobs (`knobs`), wire helpers (`wire`) and
serving (`serve`)."""
