"""The prediction service: FastAPI app, prediction log, model loading and the server runner.

Imports stay light: nothing here loads a model or numpy at import time. Each module's
docstring says what it holds; :mod:`.app` builds the app.
"""
