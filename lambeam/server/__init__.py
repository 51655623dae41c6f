"""The HTTP gateway: the REST API under /v1 and the Lambda API under /2015-03-31/, on uvicorn.

    app = create_app(project)                 # an ASGI app; its lifespan runs the engine
    serve(project, host="127.0.0.1", port=8000)

Both faces only translate their wire format and call the invocation core (lambeam.invoke) or the
functions service; each maps errors to its wire in one place.
"""

from lambeam.server.app import DEFAULT_HOST, DEFAULT_PORT, create_app, serve, serving
from lambeam.server.openapi import openapi_document

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "create_app",
    "openapi_document",
    "serve",
    "serving",
]
