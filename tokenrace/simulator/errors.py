"""HTTP error responses of each provider, sent before any event (status, headers, JSON body in its own shape)."""
from __future__ import annotations

import json
import uuid
from typing import Any

from .base import compact, fmt_seconds, go_json
from .encoders import DEFAULT_MODELS


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
_PLAIN_ERR = {429: "rate limit exceeded", 500: "internal server error", 401: "unauthorized", 400: "{msg}",
              404: "not found"}
_AZURE_ERR = {
    429: ("429", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have "
                 "exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after {retry_int} "
                 "seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase "
                 "the default rate limit."),
    500: ("InternalServerError", "Backend returned unexpected response. Please contact Microsoft for help."),
    401: ("401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                 "valid key for an active subscription and use a correct regional API endpoint for your resource."),
    404: ("404", "Resource not found")}
_VERTEX_ERR = {429: ("RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later. Please refer to "
                     "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."),
               500: ("INTERNAL", "Internal error encountered."),
               401: ("UNAUTHENTICATED", "Request is missing required authentication credential. Expected OAuth 2 "
                     "access token, login cookie or other valid authentication credential. See "
                     "https://developers.google.com/identity/sign-in/web/devconsole-project."),
               400: ("INVALID_ARGUMENT", "{msg}")}
_BEDROCK_ERR = {429: ("ThrottlingException", "Too many requests, please wait before trying again."),
                500: ("InternalServerException", "The system encountered an unexpected error during processing. "
                      "Try your request again."),
                403: ("AccessDeniedException", "Authentication failed: Please make sure your API Key is valid."),
                400: ("ValidationException", "{msg}")}
_COHERE_ERR = {429: "You are using a Trial key, which is limited to 20 API calls / minute. You can continue to use "
                    "the Trial key for free or upgrade to a Production key with higher rate limits at "
                    "'https://dashboard.cohere.com/api-keys'. Contact us on 'https://discord.gg/XW44jPfYJu' or "
                    "email us at support@cohere.com with any questions",
               500: "internal server error, this has been reported to our developers. id {id}",
               401: "invalid api token", 400: "{msg}"}
# the status a fault kind gets on a wire, where the provider's own differs (Bedrock says 403 for bad keys)
_FAULT_STATUS = {"bedrock": {"http_401": 403}}


def error_response(wire: str, status: int, *, request_id: str, model: str = "", retry_after_s: float | None = None,
                   message: str = "") -> tuple[int, dict[str, str], bytes]:
    """The provider's own HTTP error (429/500/401, or 400 for a bad request body) as (status, headers, body)."""
    headers: dict[str, str] = {}
    retry = None if status != 429 or retry_after_s is None else retry_after_s
    fill = {"model": model or DEFAULT_MODELS.get(wire, "model"), "msg": message,
            "retry": f"{fmt_seconds(retry or 1)}s", "retry_int": str(max(1, round(retry or 1))),
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, request_id))}
    if wire in ("openai", "llamacpp", "openai_responses"):
        text, etype, code = _OPENAI_ERR[status]
        oerr = {"error": {"message": text.format(**fill), "type": etype, "param": None, "code": code}}
        body = json.dumps(oerr) if wire == "llamacpp" else json.dumps(oerr, indent=4)
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
    elif wire in ("gemini", "vertex"):
        gstatus, text = (_GEMINI_ERR if wire == "gemini" else _VERTEX_ERR)[status]
        details: list[dict[str, Any]] = []
        if status == 401:
            details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "domain": "googleapis.com",
                            "reason": "API_KEY_INVALID" if wire == "gemini" else "CREDENTIALS_MISSING"})
        if status == 429 and wire == "gemini":       # Vertex sends no retry hint
            details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                 "quotaId": "GenerateRequestsPerMinutePerProjectPerModel", "quotaValue": "10"}]})
            if retry is not None:
                details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": fill["retry"]})
        err: dict[str, Any] = {"code": status, "message": text.format(**fill), "status": gstatus}
        if details:
            err["details"] = details
        body = json.dumps({"error": err}, indent=2, ensure_ascii=False) + "\n"
        headers["Content-Type"] = "application/json; charset=UTF-8"
    elif wire == "zhipu":
        code, text = _ZHIPU_ERR[status]
        body = compact({"error": {"code": code, "message": text.format(**fill)}})
        headers["Content-Type"] = "application/json;charset=UTF-8"
    elif wire == "azure":
        if status == 400:       # Azure passes OpenAI's request errors through
            body = compact({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                      "code": None}})
        else:
            code, text = _AZURE_ERR[status]
            body = compact({"error": {"code": code, "message": text.format(**fill)}})
        headers["Content-Type"] = "application/json"
        if retry is not None:
            headers.update({"retry-after": fill["retry_int"], "retry-after-ms": str(round(retry * 1000))})
    elif wire == "bedrock":
        etype, text = _BEDROCK_ERR[status]
        body = compact({"message": text.format(**fill)})
        headers.update({"Content-Type": "application/json", "x-amzn-RequestId": fill["id"],
                        "x-amzn-ErrorType": f"{etype}:http://internal.amazon.com/coral/com.amazon.bedrock/"})
    elif wire == "cohere":
        body = compact({"id": fill["id"], "message": _COHERE_ERR[status].format(**fill)})
        headers["Content-Type"] = "application/json"
    elif wire == "chatglm":     # FastAPI: {"detail": ...}, compact
        body = compact({"detail": _PLAIN_ERR[status].format(**fill)})
        headers["Content-Type"] = "application/json"
        if retry is not None:
            headers["retry-after"] = fill["retry_int"]
    else:   # ollama and the gin relay (Go, compact); the other home-made endpoints (Python json.dumps)
        text = _PLAIN_ERR[status].format(**fill)
        body = go_json({"error": text}) if wire in ("ollama", "gin_relay") else json.dumps({"error": text})
        headers["Content-Type"] = "application/json; charset=utf-8"
        if retry is not None:
            headers["retry-after"] = fmt_seconds(retry)
    return status, headers, body.encode("utf-8")


def fault_response(wire: str, kind: str, *, request_id: str, model: str = "",
                   retry_after_s: float | None = None) -> tuple[int, dict[str, str], bytes]:
    status = _FAULT_STATUS.get(wire, {}).get(kind, _STATUS[kind])
    return error_response(wire, status, request_id=request_id, model=model, retry_after_s=retry_after_s)
