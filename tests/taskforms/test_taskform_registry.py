"""Loading, checking and caching form files; form keys cannot escape the forms folder."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from app.taskforms import FormRegistry, InvalidForm, TaskForm, UnknownForm, get_registry

FORMS_DIR = Path(__file__).resolve().parents[2] / "forms"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
SHIPPED = ["certificate_issue", "cross_archive_application", "record_search", "utilisation_review"]

MINIMAL = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "测试",
    "type": "object",
    "properties": {"name": {"title": "姓名", "type": "string"}},
}


def test_shipped_forms_are_listed(registry):
    assert set(SHIPPED) <= set(registry.keys())


@pytest.mark.parametrize("path", sorted(FORMS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_form_file_is_a_valid_schema_with_chinese_titles(path, registry):
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert CHINESE.search(schema["title"]) and schema["x-title-en"]
    for name, prop in schema["properties"].items():
        assert CHINESE.search(prop.get("title", "")), name
        assert prop.get("x-title-en"), name
        if "enum" in prop:
            assert len(prop["x-enum-labels"]) == len(prop["enum"]), name
            assert all(CHINESE.search(label) for label in prop["x-enum-labels"]), name
    assert set(schema.get("required", [])) <= set(schema["properties"])
    assert isinstance(registry.get(path.stem), TaskForm)


@pytest.mark.parametrize(
    "key",
    ["../app/config", "..", "../forms/record_search", "/etc/passwd", "record_search.json", "Record_search",
     "record-search", "record_search\n", "record_search/", "", "1form", "a" * 101, None, 5],
)
def test_bad_keys_are_refused(registry, key):
    with pytest.raises(UnknownForm):
        registry.get(key)
    assert key not in registry


def test_unknown_form_is_a_key_error(registry):
    with pytest.raises(KeyError):
        registry.get("no_such_form")
    assert "no_such_form" not in registry
    assert "record_search" in registry


def test_missing_folder_has_no_keys(tmp_path):
    assert FormRegistry(tmp_path / "absent").keys() == []


def test_forms_are_cached_and_reloaded_when_changed(write_form, tmp_path):
    registry = write_form("sample", MINIMAL)
    first = registry.get("sample")
    assert registry.get("sample") is first
    changed = dict(MINIMAL, title="测试二")
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert registry.get("sample").title == "测试二"


@pytest.mark.parametrize(
    ("schema", "raw"),
    [
        (None, "{not json"),
        ([1, 2], None),
        ({"type": 5, "properties": {"a": {"title": "甲"}}}, None),
        (dict(MINIMAL, **{"$schema": "http://json-schema.org/draft-07/schema#"}), None),
        (dict(MINIMAL, properties={}), None),
        (dict(MINIMAL, properties={"a": {"type": "string"}}), None),
        (dict(MINIMAL, properties={"a": {"title": "甲", "type": "string", "format": "cn-mobil"}}), None),
        (dict(MINIMAL, properties={"a": {"title": "甲", "type": "object"}}), None),
        (dict(MINIMAL, properties={"a": {"title": "甲", "type": "integer", "x-widget": "textarea"}}), None),
        (dict(MINIMAL, properties={"a": {"title": "甲", "enum": ["x", "y"], "x-enum-labels": ["子"]}}), None),
    ],
    ids=["not-json", "not-object", "bad-schema", "old-draft", "no-properties", "no-title", "unknown-format",
         "nested-object", "textarea-on-integer", "short-enum-labels"],
)
def test_broken_form_files_are_refused(write_form, schema, raw):
    registry = write_form("broken", schema, raw)
    with pytest.raises(InvalidForm) as caught:
        registry.get("broken")
    assert caught.value.key == "broken"


def test_get_registry_caches_on_the_app(forms_app):
    with forms_app.app_context():
        registry = get_registry()
        assert registry is get_registry()
        assert forms_app.extensions["taskforms"] is registry
        assert registry.forms_dir == FORMS_DIR
