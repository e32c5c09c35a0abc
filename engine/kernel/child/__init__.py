"""Provides the kernel's own side: the code that runs in the kernel process and imports torch.

`runtime` is the process (start-up, signals, the request loop; ``python -m llm_tutor.engine.kernel.child.runtime``),
`kernel` serves the requests, `output` captures what cells print, `errors` turns exceptions into `Error` events,
`namespace` guards lesson namespaces, `checks` runs an exercise's checks, `inspect` summarises objects for the panels.
"""
