"""The Jinja macros render Bootstrap fields with errors next to them, and read-only step data."""
from __future__ import annotations

import re

import pytest
from flask import render_template_string

FIELDS = '{% from "macros/forms.html" import render_task_form %}{{ render_task_form(form, values, errors, locale) }}'
READONLY = '{% from "macros/forms.html" import render_readonly %}{{ render_readonly(form, values, locale) }}'


def _render(template: str, **context) -> str:
    return render_template_string(template, **context)


def _field_block(html: str, name: str) -> str:
    """The markup from a field's control up to the next field's wrapper."""
    start = html.index(f'name="{name}"')
    end = html.find('<div class="mb-3', start)
    return html[start:end if end != -1 else len(html)]


def test_errors_render_next_to_their_field(registry, zh):
    form = registry.get("cross_archive_application")
    values = form.coerce({"record_type": "adoption", "contact_mobile": "23800138000", "purpose": "继承"})
    errors = form.validate(values)
    html = _render(FIELDS, form=form, values=values, errors=errors, locale="zh")

    mobile = _field_block(html, "contact_mobile")
    assert re.search(r'<input class="form-control is-invalid" type="tel"[^>]*name="contact_mobile"', html)
    assert 'value="23800138000"' in mobile
    assert '<div class="invalid-feedback" id="field-contact_mobile-error">不是有效的手机号码。</div>' in mobile
    assert 'aria-describedby="field-contact_mobile-error field-contact_mobile-help"' in html
    assert mobile.index("invalid-feedback") < mobile.index("form-text")

    holder = _field_block(html, "record_holder_name")
    assert "此项为必填项。" in holder
    purpose = _field_block(html, "purpose")
    assert "is-invalid" not in purpose and ">继承</textarea>" in purpose

    assert '<select class="form-select" id="field-record_type" name="record_type"' in html
    assert '<option value="adoption" selected>收养登记档案</option>' in html
    assert '<label class="form-label" for="field-record_type">档案类别 <span class="text-danger"' in html
    assert '<label class="form-label" for="field-record_year">档案形成年份</label>' in html
    assert '<div class="form-text" id="field-record_year-help">如不确定可填写大致年份或留空。</div>' in html
    assert "<form" not in html and "submit" not in html


def test_labels_follow_the_locale_argument(registry, en):
    form = registry.get("utilisation_review")
    html = _render(FIELDS, form=form, values={}, errors={}, locale="en")
    assert ">Decision <span" in html
    assert '<option value="approve">Approve the certificate</option>' in html
    assert "Please choose…" in html and "is-invalid" not in html


def test_values_are_escaped(registry, zh):
    form = registry.get("record_search")
    html = _render(FIELDS, form=form, values={"record_reference": '"><script>x</script>'}, errors={}, locale="zh")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_checkbox_markup(write_form, zh):
    schema = {"title": "测试", "type": "object", "required": ["agreed"],
              "properties": {"agreed": {"title": "同意", "type": "boolean"}}}
    form = write_form("scratch", schema).get("scratch")
    html = _render(FIELDS, form=form, values={"agreed": True}, errors={"agreed": "须勾选"}, locale="zh")
    assert '<div class="mb-3 form-check">' in html
    assert re.search(r'<input class="form-check-input is-invalid" type="checkbox" [^>]*value="on" checked', html)
    assert '<div class="invalid-feedback" id="field-agreed-error">须勾选</div>' in html


def test_readonly_shows_labels_and_masks_personal_data(registry, zh):
    form = registry.get("cross_archive_application")
    values = {"record_type": "marriage", "record_holder_name": "张三", "purpose": "第一行\n第二行",
              "contact_mobile": "13812345678"}
    html = _render(READONLY, form=form, values=values, locale="zh")
    assert '<dl class="row mb-0">' in html
    assert '<dt class="col-sm-4">档案类别</dt>' in html
    assert '<dd class="col-sm-8">婚姻登记档案</dd>' in html
    assert "138****5678" in html and "13812345678" not in html
    assert "第一行<br>第二行" in html
    assert '<dt class="col-sm-4">档案形成年份</dt>\n  <dd class="col-sm-8">—</dd>' in html


@pytest.mark.parametrize(("locale", "label", "choice"), [("en", "Decision", "Refuse the certificate"),
                                                          ("zh", "审核结论", "不予出证")])
def test_readonly_in_either_language(registry, zh, locale, label, choice):
    html = _render(READONLY, form=registry.get("utilisation_review"), values={"decision": "refuse"}, locale=locale)
    assert f"<dt class=\"col-sm-4\">{label}</dt>" in html and choice in html


def test_readonly_can_show_unmasked_values(registry, zh):
    template = READONLY.replace("locale)", "locale, mask=false)")
    form = registry.get("cross_archive_application")
    html = _render(template, form=form, values={"contact_mobile": "13812345678"}, locale="zh")
    assert "13812345678" in html
