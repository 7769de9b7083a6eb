"""The OpenAPI document of ``/api/v1``, generated from the endpoints' declarations."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from taskra_shopify.api.endpoint import MAX_ID, Api, openapi_path

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            "required": ["type", "message"],
        }
    },
}


def _path_schema(convertor: str) -> dict[str, Any]:
    # Starlette's convertor decides what the route accepts: `{id:int}` only digits,
    # a bare `{key}` any text without a slash.
    if convertor == "int":
        return {"type": "integer", "minimum": 0, "maximum": MAX_ID}
    return {"type": "string"}


def document(api: Api, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for e in api.endpoints:
        path = api.prefix + openapi_path(e.path)
        operation: dict[str, Any] = {
            "operationId": e.handler.__name__,
            "summary": e.summary,
            "tags": [e.tag] if e.tag else [],
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": _path_schema(convertor)}
                for name, convertor in re.findall(r"\{(\w+)(?::(\w+))?\}", e.path)
            ]
            + [
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": text,
                    "schema": {"type": "string"},
                }
                for name, text in e.query
            ],
            "responses": {
                str(e.status): {"description": "Success"},
                "default": {
                    "description": "An error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
        }
        if e.body is not None:
            name = e.body.__name__
            schemas[name] = e.body.model_json_schema(ref_template="#/components/schemas/{model}")
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                },
            }
        paths.setdefault(path, {})[e.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Taskra API", "version": version},
        "servers": [{"url": "/"}],
        "security": [{"sessionToken": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "sessionToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The Shopify session token App Bridge provides.",
                }
            },
        },
    }


def openapi_endpoint(api: Api, version: str) -> Any:
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(document(api, version))

    return openapi
