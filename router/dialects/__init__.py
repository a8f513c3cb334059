"""The ways into a step: one module per ingress dialect (chat.py, messages.py, responses.py,
completions.py), each parsing its request, rendering the answer, the stream events and the
errors, and knowing nothing of the HTTP server that runs it. The pure format mappings live
under providers/, where the native provider kinds use them too."""
