"""The OpenAPI 3.1 document of the REST routes, and Swagger UI to read it."""

from __future__ import annotations

import html
from typing import Any

from analytics.audit import MAX_AUDIT_ENTRIES
from server.settings import Settings

_ERROR = {"$ref": "#/components/schemas/Error"}
_CREDENTIALS: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Bad or unreadable file: the detail says which column or row",
        401: "Missing or invalid API key or token",
        403: "The caller's role or dataset scope does not allow it",
        404: "Unknown file_id",
        409: "The analysis is still running",
        413: "File too large",
        415: "Unsupported file type (checked by content)",
        422: "Bad parameters",
    }
    responses = {str(code): _json(_ERROR, reasons[code]) for code in codes}
    if 401 in codes:
        # Every route that authenticates is also rate limited.
        limited = _json(_ERROR, "Rate limit exceeded (per API key, or per IP without one)")
        limited["headers"] = {
            "Retry-After": {
                "description": "Seconds until a request will be accepted again",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
        responses["429"] = limited
    return responses


_FILE_ID = {
    "name": "file_id",
    "in": "path",
    "required": True,
    "description": "The id returned by POST /upload (also the dataset id).",
    "schema": {"type": "string"},
}
# The file type is read from the name's extension, then checked against the content.
_FILE_NAME_HEADER = {
    "Content-Disposition": {
        "description": "The file name, whose extension must match the content.",
        "schema": {"type": "string", "example": 'form-data; name="file"; filename="sales.csv"'},
    }
}
_EXAMPLE_CSV = (
    "InvoiceNo,InvoiceDate,CustomerID,StockCode,Description,Quantity,UnitPrice,Country\n"
    "1001,2024-01-05,C1,A1,Widget,2,10.00,UK\n"
    "1002,2024-02-10,C2,A1,Widget,3,10.00,France\n"
)
# server.hardening refuses a multipart post without it: a browser cannot send
# it cross-site without asking CORS first.
_CSRF_HEADER = {
    "name": "X-Requested-With",
    "in": "header",
    "required": True,
    "description": "Any non-blank value, e.g. salescope; Apollo-Require-Preflight also works.",
    "schema": {"type": "string", "pattern": "\\S"},
}


def openapi_document(settings: Settings) -> dict[str, Any]:
    limit_mb = settings.max_upload_bytes / 1_000_000
    return {
        "openapi": "3.1.0",
        # Without required authentication a request may still present credentials.
        "security": _CREDENTIALS if settings.auth_required else [{}, *_CREDENTIALS],
        "info": {
            "title": "salescope REST compatibility API",
            "version": "0.1.0",
            "description": (
                "Upload CSV/Excel exports and poll their analysis (the routes RPA robots "
                "use). Everything else is in the GraphQL API at /graphql."
            ),
        },
        "paths": {
            "/upload": {
                "post": {
                    "summary": "Upload a file and start its analysis",
                    "operationId": "uploadFile",
                    "parameters": [_CSRF_HEADER],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {
                                        "file": {
                                            "type": "string",
                                            "contentMediaType": "application/octet-stream",
                                            "description": f".csv, .xlsx or .xls, at most "
                                            f"{limit_mb:g} MB",
                                        },
                                        "name": {"type": "string"},
                                        "kind": {
                                            "type": "string",
                                            "enum": ["transactions", "customers"],
                                        },
                                        "sheet": {"type": "string"},
                                    },
                                },
                                "encoding": {"file": {"headers": _FILE_NAME_HEADER}},
                                "example": {"file": _EXAMPLE_CSV, "kind": "transactions"},
                            }
                        },
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/UploadResponse"}, "Accepted"),
                        **_errors(400, 401, 403, 413, 415, 422),
                    },
                }
            },
            "/analysis": {
                "get": {
                    "summary": "List uploads and their analysis status",
                    "operationId": "listAnalyses",
                    "responses": {
                        "200": _json({"type": "object"}, "Uploads, newest first"),
                        **_errors(401),
                    },
                }
            },
            "/analysis/{file_id}": {
                "get": {
                    "summary": "Poll an upload's analysis",
                    "operationId": "getAnalysis",
                    "parameters": [_FILE_ID],
                    "responses": {
                        "200": _json(
                            {"$ref": "#/components/schemas/AnalysisResponse"},
                            "processing (with progress), completed (with results) or failed",
                        ),
                        **_errors(401, 403, 404),
                    },
                },
                "delete": {
                    "summary": "Delete an upload: its dataset, rows, file and results",
                    "operationId": "deleteAnalysis",
                    "parameters": [_FILE_ID],
                    "responses": {
                        "200": _json({"type": "object"}, "Deleted"),
                        **_errors(401, 403, 404, 409),
                    },
                },
            },
            "/health": {
                "get": {
                    "summary": "Liveness and database check",
                    "operationId": "health",
                    "security": [],
                    "responses": {
                        "200": _json({"type": "object"}, "Healthy"),
                        "503": _json({"type": "object"}, "Database unreachable"),
                    },
                }
            },
            "/status": {
                "get": {
                    "summary": "Supported formats, limits and directory checks",
                    "operationId": "status",
                    "responses": {
                        "200": _json({"type": "object"}, "Service status"),
                        **_errors(401),
                    },
                }
            },
            "/": {
                "get": {
                    "summary": "Service information and endpoints",
                    "operationId": "serviceInfo",
                    "responses": {
                        "200": _json({"type": "object"}, "Service information"),
                        **_errors(401),
                    },
                }
            },
            "/logs/last/{num_lines}": {
                "get": {
                    "summary": "The last lines of the service log (JSON lines)",
                    "operationId": "lastLogLines",
                    "parameters": [
                        {
                            "name": "num_lines",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 10000},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "Log lines",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(401, 403, 422),
                    },
                }
            },
            "/audit/logs": {
                "get": {
                    "summary": "The newest audit log entries, newest first (admin)",
                    "operationId": "auditLogs",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_AUDIT_ENTRIES,
                                "default": 100,
                            },
                        }
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/AuditLog"}, "Entries"),
                        **_errors(401, 403, 422),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["detail"],
                    "properties": {"detail": {"type": "string"}},
                },
                "AuditLog": {
                    "type": "object",
                    "required": ["success", "count", "entries"],
                    "properties": {
                        "success": {"type": "boolean"},
                        "count": {"type": "integer"},
                        "entries": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["actor", "action", "outcome", "at"],
                                "properties": {
                                    "id": {"type": "integer"},
                                    "at": {"type": "string", "format": "date-time"},
                                    "actor": {"type": "string"},
                                    "role": {"type": ["string", "null"]},
                                    "action": {"type": "string"},
                                    "target": {"type": ["string", "null"]},
                                    "outcome": {"type": "string"},
                                    "status": {"type": ["integer", "null"]},
                                    "ip": {"type": ["string", "null"]},
                                    "request_id": {"type": ["string", "null"]},
                                    "detail": {"type": ["string", "null"]},
                                },
                            },
                        },
                    },
                },
                "FileInfo": {
                    "type": "object",
                    "properties": {
                        "file_id": {"type": "string"},
                        "filename": {"type": ["string", "null"]},
                        "original_name": {"type": ["string", "null"]},
                        "size": {"type": ["integer", "null"]},
                        "format": {"type": ["string", "null"]},
                        "upload_time": {"type": ["string", "null"], "format": "date-time"},
                        "status": {"type": "string"},
                    },
                },
                "UploadResponse": {
                    "type": "object",
                    "properties": {
                        "success": {"type": "boolean"},
                        "message": {"type": "string"},
                        "file_id": {"type": "string"},
                        "file_info": {"$ref": "#/components/schemas/FileInfo"},
                        "rows": {
                            "type": ["object", "null"],
                            "description": "Rows read, to import, rejected; first reasons.",
                        },
                        "analysis_url": {"type": "string"},
                    },
                },
                "AnalysisPart": {
                    "type": "object",
                    "description": "One part of the analysis; it succeeds or fails on its own.",
                    "required": ["success"],
                    "properties": {
                        "success": {"type": "boolean"},
                        "data": {"type": "object"},
                        "error": {
                            "type": "string",
                            "description": "Why the part failed (e.g. too few customers).",
                        },
                    },
                },
                "AnalysisResults": {
                    "type": "object",
                    "properties": {
                        "kpis": {
                            "$ref": "#/components/schemas/AnalysisPart",
                            "description": "data: the kpis GraphQL numbers, snake_case.",
                        },
                        "churn": {
                            "$ref": "#/components/schemas/AnalysisPart",
                            "description": "data: metrics{current_churn_rate, average_churn_prob, "
                            "total_churners}, churn_rate_trends, top_churn_customers, "
                            "churn_factors, risk_distribution, model.",
                        },
                        "segmentation": {
                            "$ref": "#/components/schemas/AnalysisPart",
                            "description": "data: segmented_customers[{customer_id, cluster, "
                            "segment}], cluster_metrics{method, n_clusters, silhouette_score, "
                            "cluster_sizes, clusters}.",
                        },
                        "sales": {
                            "$ref": "#/components/schemas/AnalysisPart",
                            "description": "data: forecast{method, points, backtest}, "
                            "top10_products, seasonal_patterns{by_month, by_weekday}.",
                        },
                    },
                },
                "AnalysisResponse": {
                    "type": "object",
                    "properties": {
                        "success": {"type": "boolean"},
                        "file_id": {"type": "string"},
                        "file_info": {"$ref": "#/components/schemas/FileInfo"},
                        "analysis": {
                            "type": "object",
                            "properties": {
                                "status": {
                                    "type": "string",
                                    "enum": ["processing", "completed", "failed"],
                                },
                                "progress": {"type": "number", "minimum": 0, "maximum": 1},
                                "stage": {"type": "string"},
                                "error": {"type": ["string", "null"]},
                                "import": {"type": ["object", "null"]},
                                "results": {"$ref": "#/components/schemas/AnalysisResults"},
                                "completed_at": {"type": ["string", "null"]},
                            },
                        },
                        "timestamp": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    }


def swagger_html(spec_url: str) -> str:
    url = html.escape(spec_url, quote=True)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>salescope REST API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "{url}", dom_id: "#swagger-ui"}});</script>
</body></html>"""
