"""Hooks for scripts/contract-test.sh (loaded through SCHEMATHESIS_HOOKS).

Free-form `metadata` objects have rules on their keys at every level (no control characters, no
leading `$`, no dots, no prototype names) and on their size (16 KB, 4 levels, 100 keys in all).
OpenAPI 3.0 has no `propertyNames`, so the document states them in words; without this filter,
generated "valid" bodies would keep tripping them. Only those bodies are left out: every other
body, valid or not, is sent. The key rules have their own Jest tests (hostile input).
"""

import json
import re

import schemathesis

CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f]")
PROTOTYPE_KEYS = {"__proto__", "constructor", "prototype"}


def _metadata_breaks_rules(value):
    keys = 0

    def visit(node, depth):
        nonlocal keys
        if isinstance(node, list):
            return depth > 4 or any(visit(item, depth + 1) for item in node)
        if not isinstance(node, dict):
            return False
        if depth > 4:
            return True
        for key, child in node.items():
            keys += 1
            if keys > 100 or key.startswith("$") or "." in key or key in PROTOTYPE_KEYS or CONTROL.search(key):
                return True
            if visit(child, depth + 1):
                return True
        return False

    if visit(value, 1):
        return True
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > 16 * 1024


@schemathesis.hook
def filter_body(context, body):
    if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
        return not _metadata_breaks_rules(body["metadata"])
    return True
