"""The report: :mod:`.kit` for the task sections, :mod:`.html` for the page, :mod:`.build` to
assemble them (the one module here that knows the task registry)."""
