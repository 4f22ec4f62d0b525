"""The HTTP surface every service builds on: the app factory, middleware, errors, JSON media,
routes, OpenAPI, request validation, pagination and health.
"""
