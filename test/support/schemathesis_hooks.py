"""schemathesis hooks of test/integration/openApiContract.test.ts (loaded through SCHEMATHESIS_HOOKS).

A request can be valid by the OpenAPI document and still be refused for what no JSON Schema can say, because it
depends on the served model: a prompt (with its max_tokens) longer than the model's context, or a token id beyond the
model's vocabulary. The gateway answers those with 400 and OpenAI's error codes `context_length_exceeded` and
`invalid_token`, as the document's 400 descriptions say. Only those two are not counted as schema-valid requests
rejected; any other refusal of a schema-valid request fails the run, and every check still runs on these answers.
"""

import json

import schemathesis

MODEL_LIMIT_CODES = {"context_length_exceeded", "invalid_token"}


def _error_code(response) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    if failure.code != "ST202" or response.status_code != 400:
        return True
    return _error_code(response) not in MODEL_LIMIT_CODES
