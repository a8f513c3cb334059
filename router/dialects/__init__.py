"""The ways into a step besides Chat Completions: one module per ingress dialect (parse the
request, render the answer, the stream events and the errors), each knowing nothing of
the HTTP server that runs it. The pure format mappings live under providers/."""
