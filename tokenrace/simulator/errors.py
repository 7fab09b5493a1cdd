"""HTTP error responses of each provider, sent before any event (status, headers, JSON body in its own shape)."""
from __future__ import annotations

import json

from .formats import DEFAULT_MODELS, compact, fmt_seconds, go_json


_STATUS = {"http_429": 429, "http_500": 500, "http_401": 401}
_OPENAI_ERR = {
    429: ("Rate limit reached for {model} in organization org-sim on requests per min (RPM): Limit 3, Used 3, "
          "Requested 1. Please try again in {retry}.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    401: ("Incorrect API key provided: sk-sim***. You can find your API key at "
          "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"),
    400: ("{msg}", "invalid_request_error", None)}
_ANTHROPIC_ERR = {429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
                  500: ("api_error", "Internal server error"), 401: ("authentication_error", "invalid x-api-key"),
                  400: ("invalid_request_error", "{msg}")}
_GEMINI_ERR = {429: ("RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing "
                     "details."),
               500: ("INTERNAL", "An internal error has occurred. Please retry or report in "
                     "https://developers.generativeai.google/guide/troubleshooting"),
               401: ("UNAUTHENTICATED", "Request had invalid authentication credentials. API key not valid."),
               400: ("INVALID_ARGUMENT", "{msg}")}
_ZHIPU_ERR = {429: ("1302", "Rate limit reached for requests"), 500: ("500", "Internal Error"),
              401: ("1000", "Authentication failed"), 400: ("1214", "{msg}")}
_PLAIN_ERR = {429: "rate limit exceeded", 500: "internal server error", 401: "unauthorized", 400: "{msg}"}


def error_response(wire: str, status: int, *, request_id: str, model: str = "", retry_after_s: float | None = None,
                   message: str = "") -> tuple[int, dict[str, str], bytes]:
    """The provider's own HTTP error (429/500/401, or 400 for a bad request body) as (status, headers, body)."""
    headers: dict[str, str] = {}
    retry = None if status != 429 or retry_after_s is None else retry_after_s
    fill = {"model": model or DEFAULT_MODELS.get(wire, "model"), "msg": message,
            "retry": f"{fmt_seconds(retry or 1)}s"}
    if wire in ("openai", "llamacpp"):
        text, etype, code = _OPENAI_ERR[status]
        err = {"error": {"message": text.format(**fill), "type": etype, "param": None, "code": code}}
        body = json.dumps(err, indent=4) if wire == "openai" else json.dumps(err)
        headers["Content-Type"] = "application/json; charset=utf-8"
        if retry is not None:
            headers.update({"retry-after": fmt_seconds(retry), "retry-after-ms": str(round(retry * 1000)),
                            "x-ratelimit-remaining-requests": "0"})
    elif wire == "anthropic":
        etype, text = _ANTHROPIC_ERR[status]
        body = compact({"type": "error", "error": {"type": etype, "message": text.format(**fill)},
                        "request_id": request_id})
        headers.update({"Content-Type": "application/json", "request-id": request_id})
        if retry is not None:
            headers.update({"retry-after": fmt_seconds(retry), "anthropic-ratelimit-requests-remaining": "0"})
    elif wire == "gemini":
        gstatus, text = _GEMINI_ERR[status]
        details: list[dict] = []
        if status == 401:
            details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com"})
        if status == 429:
            details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                 "quotaId": "GenerateRequestsPerMinutePerProjectPerModel", "quotaValue": "10"}]})
            if retry is not None:
                details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": fill["retry"]})
        err = {"code": status, "message": text.format(**fill), "status": gstatus}
        if details:
            err["details"] = details
        body = json.dumps({"error": err}, indent=2, ensure_ascii=False) + "\n"
        headers["Content-Type"] = "application/json; charset=UTF-8"
    elif wire == "zhipu":
        code, text = _ZHIPU_ERR[status]
        body = compact({"error": {"code": code, "message": text.format(**fill)}})
        headers["Content-Type"] = "application/json;charset=UTF-8"
    else:   # ollama (Go, compact) and the home-made endpoints (Python json.dumps)
        text = _PLAIN_ERR[status].format(**fill)
        body = go_json({"error": text}) if wire == "ollama" else json.dumps({"error": text})
        headers["Content-Type"] = "application/json; charset=utf-8"
        if retry is not None:
            headers["retry-after"] = fmt_seconds(retry)
    return status, headers, body.encode("utf-8")


def fault_response(wire: str, kind: str, *, request_id: str, model: str = "",
                   retry_after_s: float | None = None) -> tuple[int, dict[str, str], bytes]:
    return error_response(wire, _STATUS[kind], request_id=request_id, model=model, retry_after_s=retry_after_s)
