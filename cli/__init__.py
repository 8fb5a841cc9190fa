"""Command-line adapter (`replyguard ...`). Imports core/ and models/; starts, but never
imports, the api/ and workers/ processes."""
