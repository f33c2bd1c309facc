"""Field descriptors, coercion of HTML form strings, and translated validation messages."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

VALID_HTML = {
    "cross_archive_application": {
        "record_type": "marriage", "record_holder_name": " 张三 ", "record_year": "1985",
        "holding_archive": "福州市档案馆", "purpose": "办理房产继承\r\n需要婚姻证明", "contact_mobile": "13800138000",
    },
    "record_search": {"search_result": "yes", "record_reference": "", "opinion": "已查到婚姻登记档案。"},
    "utilisation_review": {"decision": "approve", "opinion": "同意"},
    "certificate_issue": {"certificate_no": "FZ-2024-0001", "delivery": "window", "opinion": ""},
}

INVALID_HTML = {
    "cross_archive_application": (
        {"record_type": "birth", "record_holder_name": "", "record_year": "1850", "holding_archive": "档" * 101,
         "purpose": "查询", "contact_mobile": "23800138000"},
        {"record_type": "必须从列出的选项中选择。", "record_holder_name": "此项为必填项。",
         "record_year": "不能小于1900。", "holding_archive": "不能超过100个字符。", "contact_mobile": "不是有效的手机号码。"},
    ),
    "record_search": (
        {"search_result": "maybe", "record_reference": "档" * 101, "opinion": "  "},
        {"search_result": "必须从列出的选项中选择。", "record_reference": "不能超过100个字符。", "opinion": "此项为必填项。"},
    ),
    "utilisation_review": (
        {"decision": "", "opinion": "否"},
        {"decision": "此项为必填项。", "opinion": "不能少于2个字符。"},
    ),
    "certificate_issue": (
        {"delivery": "fax", "opinion": "意" * 1001},
        {"certificate_no": "此项为必填项。", "delivery": "必须从列出的选项中选择。", "opinion": "不能超过1000个字符。"},
    ),
}


@pytest.mark.parametrize("key", sorted(VALID_HTML))
def test_valid_html_data_round_trips(registry, zh, key):
    form = registry.get(key)
    data = form.coerce(VALID_HTML[key])
    assert form.validate(data) == {}
    assert all(value != "" for value in data.values())


@pytest.mark.parametrize("key", sorted(INVALID_HTML))
def test_invalid_html_data_reports_each_field_in_chinese(registry, zh, key):
    raw, expected = INVALID_HTML[key]
    form = registry.get(key)
    assert form.validate(form.coerce(raw)) == expected


def test_messages_follow_the_locale(registry, forms_app):
    form = registry.get("cross_archive_application")
    data = form.coerce({"record_type": "marriage", "record_year": "19x", "contact_mobile": "123"})
    with forms_app.test_request_context("/?lang=en"):
        english = form.validate(data)
    with forms_app.test_request_context("/?lang=zh"):
        chinese = form.validate(data)
    assert english == {
        "record_holder_name": "This field is required.",
        "record_year": "Must be a whole number.",
        "holding_archive": "This field is required.",
        "purpose": "This field is required.",
        "contact_mobile": "Not a valid mobile phone number.",
    }
    assert chinese["record_year"] == "必须为整数。"
    assert chinese["contact_mobile"] == "不是有效的手机号码。"
    assert list(chinese) == list(english)  # errors come in form order


def test_coerce_types_strips_and_drops(registry):
    form = registry.get("cross_archive_application")
    data = form.coerce(dict(VALID_HTML["cross_archive_application"], csrf_token="x", record_year=" 1985 "))
    assert data == {
        "record_type": "marriage", "record_holder_name": "张三", "record_year": 1985,
        "holding_archive": "福州市档案馆", "purpose": "办理房产继承\n需要婚姻证明", "contact_mobile": "13800138000",
    }
    assert "record_year" not in form.coerce({"record_year": "   "})


def test_coerce_accepts_a_multidict(registry):
    form = registry.get("utilisation_review")
    raw = MultiDict([("decision", "refuse"), ("decision", "approve"), ("opinion", "材料不全")])
    assert form.coerce(raw) == {"decision": "refuse", "opinion": "材料不全"}


def test_api_json_is_validated_directly(registry, en):
    form = registry.get("certificate_issue")
    assert form.validate({"certificate_no": "FZ-1", "delivery": "post", "extra": 1}) == {}
    assert form.validate({"certificate_no": "   ", "delivery": "post"}) == {"certificate_no": "This field is required."}
    assert form.validate({"certificate_no": 12, "delivery": "post"}) == {"certificate_no": "Must be text."}
    assert form.validate(["not", "an", "object"]) == {"_form": "The form data must be an object."}


def test_fields_describe_the_schema(registry):
    form = registry.get("cross_archive_application")
    assert form.title == "民生档案跨馆查询出证申请"
    assert form.title_for("en_GB").startswith("Cross-archive")
    names = [field.name for field in form.fields]
    assert names == ["record_type", "record_holder_name", "record_year", "holding_archive", "purpose", "contact_mobile"]
    record_type, _, year, _, purpose, mobile = form.fields
    assert (record_type.widget, record_type.required, record_type.label) == ("select", True, "档案类别")
    assert [o.label for o in record_type.options][:2] == ["婚姻登记档案", "收养登记档案"]
    assert record_type.options[0].label_for("en") == "Marriage registration records"
    assert (year.widget, year.type, year.required) == ("number", "integer", False)
    assert (year.minimum, year.maximum) == (1900, 2100)
    assert (purpose.widget, purpose.max_length) == ("textarea", 500)
    assert (mobile.format, mobile.input_type, mobile.label_for("zh")) == ("cn-mobile", "tel", "联系电话")
    assert form.field("nope") is None


def _scratch_form(write_form, properties, **extra):
    schema = {"title": "测试", "type": "object", "properties": properties, **extra}
    return write_form("scratch", schema).get("scratch")


def test_checkbox_date_and_identifier_fields(write_form, en):
    form = _scratch_form(write_form, {
        "agreed": {"title": "同意", "type": "boolean"},
        "born_on": {"title": "出生日期", "type": "string", "format": "date"},
        "id_number": {"title": "身份证号码", "type": "string", "format": "cn-id-number"},
        "uscc": {"title": "统一社会信用代码", "type": "string", "format": "cn-uscc"},
        "amount": {"title": "金额", "type": "number", "exclusiveMinimum": 0},
    }, required=["agreed", "id_number"])
    assert [f.widget for f in form.fields] == ["checkbox", "date", "text", "text", "number"]
    assert form.coerce({"id_number": "11010519491231002x"})["agreed"] is False
    assert form.coerce(MultiDict([("agreed", "off"), ("agreed", "on")]))["agreed"] is True
    data = form.coerce({"agreed": "on", "born_on": "1949-12-31", "id_number": " 11010519491231002x ",
                        "uscc": "91310230ma1k314j7c", "amount": "12.50"})
    assert data == {"agreed": True, "born_on": "1949-12-31", "id_number": "11010519491231002X",
                    "uscc": "91310230MA1K314J7C", "amount": 12.5}
    assert form.validate(data) == {}
    bad = form.coerce({"born_on": "1949-02-31", "id_number": "110105194902310026", "uscc": "91310230MA1K314J7D",
                       "amount": "nan"})
    assert form.validate(bad) == {
        "born_on": "Not a valid date (YYYY-MM-DD).",
        "id_number": "Not a valid citizen ID number (居民身份证号码).",
        "uscc": "Not a valid unified social credit code.",
        "amount": "Must be a number.",
    }
    assert form.validate(dict(data, amount=0))["amount"] == "Must be greater than 0."


def test_id_number_message_in_chinese(write_form, zh):
    form = _scratch_form(write_form, {"id_number": {"title": "身份证号码", "type": "string", "format": "cn-id-number"}})
    assert form.validate({"id_number": "11010519491231002Y"}) == {"id_number": "不是有效的居民身份证号码。"}


def test_additional_properties_false_is_honoured(write_form, en):
    form = _scratch_form(write_form, {"name": {"title": "姓名", "type": "string"}}, additionalProperties=False)
    assert form.validate({"name": "张三"}) == {}
    assert form.validate({"name": "张三", "zz": 1, "aa": 2}) == {"_form": "Unexpected fields: aa, zz."}


def test_first_error_per_field_is_kept_and_conditionals_map_to_fields(write_form, en):
    form = _scratch_form(write_form, {
        "delivery": {"title": "送达方式", "enum": ["window", "post"]},
        "address": {"title": "邮寄地址", "type": "string", "minLength": 5, "pattern": "^[0-9]+$"},
    }, **{"if": {"properties": {"delivery": {"const": "post"}}, "required": ["delivery"]},
          "then": {"required": ["address"]}})
    assert form.validate({"delivery": "window"}) == {}
    assert form.validate({"delivery": "post"}) == {"address": "This field is required."}
    assert form.validate({"delivery": "post", "address": "abc"}) == {"address": "Must be at least 5 characters."}
