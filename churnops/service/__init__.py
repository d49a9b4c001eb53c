"""The prediction service: FastAPI app, prediction log, model loading and the server runner.

Layout (imports stay light: nothing here loads a model or numpy at import time):

- :mod:`.settings`   one frozen ``Settings`` read from ``CHURNOPS_*`` environment variables
- :mod:`.schemas`    request/response models derived from :mod:`churnops.core.schema`
- :mod:`.loader`     the model-loading seam: the registry's ``prod`` -> md5-verified JSON model -> ``LoadedModel``
- :mod:`.state`      the atomically swapped current model, reload, and sibling-worker status
- :mod:`.logwriter`  the prediction-log writer seam (background writer, flock'd appends, rotation)
- :mod:`.clock`      the clock seam (wall time for ``ts``)
- :mod:`.middleware` request id + body size limit, as one raw ASGI layer
- :mod:`.http_errors` client mistakes -> 4xx, churnops errors -> their status codes
- :mod:`.routes`     thin endpoint modules; :mod:`.deps` their typed dependencies
- :mod:`.app`        ``create_app()`` with the lifespan that loads the model
- :mod:`.server`     uvicorn runner: TCP_NODELAY socket, multi-worker supervisor forwarding SIGHUP
"""
