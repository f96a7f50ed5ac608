"""The HTTP layer: targets, methods, content types, CBOR, CORS and the
authentication errors AWS answers before any operation runs."""

import base64

import kds
from kds import AMZ_CBOR, AMZ_JSON, UUID_RE, check, eq, request

LIST = f"{kds.VERSION}.ListStreams"
EXPOSE = "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date"


def expect_body(r, status, content_type, body):
    """AWS's full answer: status, Content-Type (None: absent), body, and the
    headers every answer carries (Content-Length, x-amzn-RequestId, x-amz-id-2)."""
    ctx = f"expected {status} {content_type} {body!r}, got {r!r} headers {r.headers}"
    eq(r.status, status, f"status; {ctx}")
    eq(r.body, body, f"body; {ctx}")
    eq(r.headers.get("content-type"), content_type, f"Content-Type; {ctx}")
    eq(r.headers.get("content-length"), str(len(r.raw)), "Content-Length")
    check(UUID_RE.match(r.headers.get("x-amzn-requestid", "")) is not None,
          f"x-amzn-RequestId {r.headers.get('x-amzn-requestid')!r} is not a UUID")
    id2 = r.headers.get("x-amz-id-2")
    check(id2 is not None, "no x-amz-id-2 header")
    check(64 <= len(base64.b64decode(id2)) <= 80, f"x-amz-id-2 {id2!r} is not 64-80 bytes of base64")


def xml(type_, message):
    return f"<{type_}>\n  <Message>{message}</Message>\n</{type_}>\n"


ACCESS_DENIED = xml("AccessDeniedException", "Unable to determine service/operation name to be authorized")
UNKNOWN_CBOR = {"__type": "UnknownOperationException"}
SERIALIZATION_CBOR = {"__type": "SerializationException"}
MISSING = {"__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"}
AUTH_X = ("Authorization header requires 'Credential' parameter. "
          "Authorization header requires 'Signature' parameter. "
          "Authorization header requires 'SignedHeaders' parameter. "
          "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
          "Authorization=X")
QUERY_ALL = ("AWS query-string parameters must include 'X-Amz-Algorithm'. "
             "AWS query-string parameters must include 'X-Amz-Credential'. "
             "AWS query-string parameters must include 'X-Amz-Signature'. "
             "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
             "AWS query-string parameters must include 'X-Amz-Date'. "
             "Re-examine the query-string parameters.")


def incomplete(message):
    return {"__type": "IncompleteSignatureException", "message": message}


# --- no usable target or content type: CBOR UnknownOperationException

def test_post_no_auth_no_headers_is_cbor_unknown_operation():
    expect_body(request(sign=False), 400, AMZ_CBOR, UNKNOWN_CBOR)


def test_post_no_body_is_cbor_unknown_operation():
    expect_body(request(), 400, AMZ_CBOR, UNKNOWN_CBOR)


def test_get_is_access_denied():
    expect_body(request("GET"), 403, None, ACCESS_DENIED)


def test_put_is_access_denied():
    expect_body(request("PUT"), 403, None, ACCESS_DENIED)


def test_delete_is_access_denied():
    expect_body(request("DELETE"), 403, None, ACCESS_DENIED)


def test_body_without_content_type_is_access_denied():
    expect_body(request(body="{}"), 403, None, ACCESS_DENIED)


def test_json_1_0_content_type_is_cbor_unknown_operation():
    expect_body(request(headers={"Content-Type": "application/x-amz-json-1.0"}), 400, AMZ_CBOR, UNKNOWN_CBOR)


def test_random_content_type_is_cbor_unknown_operation():
    expect_body(request(headers={"Content-Type": "application/x-amz-json-1.1asdf"}), 400, AMZ_CBOR, UNKNOWN_CBOR)


def test_unknown_targets_are_cbor_unknown_operation():
    for target in ["Whatever", f"{kds.VERSION}.", f"{kds.VERSION}.Whatever", "Whatever.Whatever",
                   f"{kds.VERSION}.ListStream"]:
        r = request(headers={"X-Amz-Target": target})
        try:
            expect_body(r, 400, AMZ_CBOR, UNKNOWN_CBOR)
        except AssertionError as e:
            raise AssertionError(f"X-Amz-Target {target!r}: {e}") from None


def test_valid_target_without_content_type_is_cbor_serialization():
    expect_body(request(headers={"X-Amz-Target": LIST}), 400, AMZ_CBOR, SERIALIZATION_CBOR)


def test_origin_sets_cors_headers_on_answers():
    r = request(headers={"Origin": "whatever"})
    eq(r.headers.get("access-control-allow-origin"), "*", "Access-Control-Allow-Origin")
    eq(r.headers.get("access-control-expose-headers"), EXPOSE, "Access-Control-Expose-Headers")
    expect_body(r, 400, AMZ_CBOR, UNKNOWN_CBOR)


# --- CORS preflight

def expect_cors(r, extra=None):
    eq(r.status, 200, f"status ({r!r})")
    check(UUID_RE.match(r.headers.get("x-amzn-requestid", "")) is not None, "x-amzn-RequestId not a UUID")
    eq(r.headers.get("access-control-allow-origin"), "*", "Access-Control-Allow-Origin")
    for k, v in (extra or {}).items():
        eq(r.headers.get(k), v, k)
    eq(r.headers.get("access-control-max-age"), "172800", "Access-Control-Max-Age")
    eq(r.headers.get("content-length"), "0", "Content-Length")
    check("x-amz-id-2" not in r.headers, "preflight answer has x-amz-id-2")
    check("content-type" not in r.headers, f"preflight answer has Content-Type {r.headers.get('content-type')!r}")
    eq(r.raw, b"", "body")


def test_options_preflight_without_auth():
    expect_cors(request("OPTIONS", headers={"Origin": "whatever"}, sign=False))


def test_options_preflight_with_auth():
    expect_cors(request("OPTIONS", headers={"Origin": "whatever"}))


def test_options_preflight_echoes_request_headers():
    r = request("OPTIONS", headers={"Origin": "whatever", "Access-Control-Request-Headers": "a, b, c"})
    expect_cors(r, {"access-control-allow-headers": "a, b, c"})


def test_options_preflight_echoes_request_headers_and_method():
    r = request("OPTIONS", headers={"Origin": "whatever", "Access-Control-Request-Headers": "a, b, c",
                                    "Access-Control-Request-Method": "d"})
    expect_cors(r, {"access-control-allow-headers": "a, b, c", "access-control-allow-methods": "d"})


# --- JSON 1.1

def test_json_without_target_is_unknown_operation():
    expect_body(request(headers={"Content-Type": AMZ_JSON}), 400, AMZ_JSON, {"__type": "UnknownOperationException"})


def test_json_without_target_and_auth_is_unknown_operation():
    r = request(headers={"Content-Type": AMZ_JSON}, sign=False)
    expect_body(r, 400, AMZ_JSON, {"__type": "UnknownOperationException"})


def test_plain_json_without_target_is_cbor_unknown_operation():
    expect_body(request(headers={"Content-Type": "application/json"}), 400, AMZ_CBOR, UNKNOWN_CBOR)


def test_plain_json_with_target_and_no_body_is_cbor_serialization():
    r = request(headers={"Content-Type": "application/json", "X-Amz-Target": LIST})
    expect_body(r, 400, AMZ_CBOR, SERIALIZATION_CBOR)


def test_no_body_is_serialization_exception():
    r = request(headers={"Content-Type": AMZ_JSON, "X-Amz-Target": LIST})
    expect_body(r, 400, AMZ_JSON, {"__type": "SerializationException"})


def test_no_body_and_no_auth_is_serialization_exception():
    r = request(headers={"Content-Type": AMZ_JSON, "X-Amz-Target": LIST}, sign=False)
    expect_body(r, 400, AMZ_JSON, {"__type": "SerializationException"})


def test_non_json_body_is_serialization_exception():
    r = request(headers={"Content-Type": AMZ_JSON, "X-Amz-Target": LIST}, body="hello", sign=False)
    expect_body(r, 400, AMZ_JSON, {"__type": "SerializationException"})


def test_plain_json_with_body_is_deprecated_unknown_operation():
    r = request(headers={"Content-Type": "application/json", "X-Amz-Target": LIST}, body="{}", sign=False)
    expect_body(r, 404, "application/json",
                {"Output": {"__type": "com.amazon.coral.service#UnknownOperationException"}, "Version": "1.0"})


def test_plain_json_with_bad_body_is_deprecated_serialization():
    for ctype in ["application/json", "     application/json     ;"]:
        r = request(headers={"Content-Type": ctype, "X-Amz-Target": LIST}, body="hello", sign=False)
        expect_body(r, 400, "application/json",
                    {"Output": {"__type": "com.amazon.coral.service#SerializationException"}, "Version": "1.0"})


def test_signed_request_succeeds():
    r = request(headers={"Content-Type": AMZ_JSON, "X-Amz-Target": LIST}, body="{}")
    eq(r.status, 200, f"status ({r!r})")
    eq(r.headers.get("content-type"), AMZ_JSON, "Content-Type")
    kds.check_list_streams_keys(r.body)


# --- authentication

def test_missing_authentication_token():
    for ctype in [AMZ_JSON, "   application/x-amz-json-1.1   ;whatever"]:
        r = request(headers={"Content-Type": ctype, "X-Amz-Target": LIST}, body="{}", sign=False)
        expect_body(r, 400, AMZ_JSON, MISSING)


def test_incomplete_authorization_header():
    r = request(headers={"Content-Type": AMZ_JSON, "X-Amz-Target": LIST, "Authorization": "X"},
                body="{}", sign=False)
    expect_body(r, 400, AMZ_JSON, incomplete(AUTH_X))


def test_incomplete_authorization_header_with_unrelated_query():
    r = request(path="/?X-Amz-Algorith", headers={"Content-Type": AMZ_JSON, "X-Amz-Target": LIST,
                                                    "Authorization": "X"}, body="{}", sign=False)
    expect_body(r, 400, AMZ_JSON, incomplete(AUTH_X))


def test_query_without_algorithm_is_missing_token():
    r = request(path="/?X-Amz-Credential=a&X-Amz-Signature=b&X-Amz-SignedHeaders=c&X-Amz-Date=d",
                headers={"Content-Type": AMZ_JSON, "X-Amz-Target": LIST}, body="{}", sign=False)
    expect_body(r, 400, AMZ_JSON, MISSING)


def test_both_authorization_header_and_query_is_invalid_signature():
    r = request(path="/?X-Amz-Algorithm", headers={"Content-Type": AMZ_JSON, "X-Amz-Target": LIST,
                                                     "Authorization": "X"}, body="{}", sign=False)
    expect_body(r, 400, AMZ_JSON, {
        "__type": "InvalidSignatureException",
        "message": "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."})


def test_authorization_header_missing_signed_headers():
    for auth in ["AWS4- Signature=b Credential=a", "AWS4- Signature=b,Credential=a", "AWS4- Signature=b, Credential=a"]:
        r = request(headers={"Content-Type": AMZ_JSON, "X-Amz-Target": LIST, "Authorization": auth, "Date": "a"},
                    body="{}", sign=False)
        try:
            expect_body(r, 400, AMZ_JSON, incomplete(
                f"Authorization header requires 'SignedHeaders' parameter. Authorization={auth}"))
        except AssertionError as e:
            raise AssertionError(f"Authorization {auth!r}: {e}") from None


def test_empty_algorithm_query():
    r = request(path="/?X-Amz-Algorithm", headers={"Content-Type": AMZ_JSON, "X-Amz-Target": LIST},
                body="{}", sign=False)
    expect_body(r, 400, AMZ_JSON, incomplete(QUERY_ALL))


def test_query_missing_signed_headers():
    r = request(path="/?X-Amz-Algorithm=a&X-Amz-Credential=b&X-Amz-Signature=c&X-Amz-Date=d",
                headers={"Content-Type": AMZ_JSON, "X-Amz-Target": LIST}, body="{}", sign=False)
    expect_body(r, 400, AMZ_JSON, incomplete(
        "AWS query-string parameters must include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."))


# --- CBOR 1.1 requests (the Java SDK's protocol)

def test_cbor_request_answers_cbor():
    r = request(headers={"Content-Type": AMZ_CBOR, "X-Amz-Target": LIST}, body=kds.cbor_encode({"Limit": 1}))
    eq(r.status, 200, f"status ({r!r})")
    eq(r.headers.get("content-type"), AMZ_CBOR, "Content-Type")
    check(isinstance(r.body, dict), f"body is not a CBOR map: {r.raw[:80]!r}")
    kds.check_list_streams_keys(r.body)


def test_cbor_error_answers_cbor():
    name = kds.unique_name()
    r = request(headers={"Content-Type": AMZ_CBOR, "X-Amz-Target": f"{kds.VERSION}.DescribeStream"},
                body=kds.cbor_encode({"StreamName": name}))
    expect_body(r, 400, AMZ_CBOR, {"__type": "ResourceNotFoundException",
                                   "message": kds.stream_not_found(name)})
