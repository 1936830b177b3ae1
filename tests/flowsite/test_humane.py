"""Times, codes and numbers as people read them, through a rendered template."""

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone


def render(source: str, **context) -> str:
    return Template("{% load humane %}" + source).render(Context(context))


def test_when_says_how_long_ago_with_the_exact_time_on_hover():
    moment = timezone.now() - timedelta(minutes=2, seconds=5)
    html = render("{% when t %}", t=moment)
    exact = timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")
    assert html == (f'<time datetime="{moment.isoformat(timespec="seconds")}" title="{exact} UTC">2 minutes ago</time>')
    assert "." not in moment.isoformat(timespec="seconds")  # no microseconds
    assert ">just now<" in render("{% when t %}", t=timezone.now())
    assert ">in 3 days<" in render("{% when t %}", t=timezone.now() + timedelta(days=3, hours=1))
    assert render("{% when t %}", t=None) == "—"


@pytest.mark.parametrize(
    "code,words",
    [("ACTION_FAILED", "Action failed"), ("workflow_failed", "Workflow failed"), ("move_to_stage", "Move to stage")],
)
def test_label(code, words):
    assert render("{{ c|label }}", c=code) == words


@pytest.mark.parametrize(
    "value,as_number,as_money",
    [
        ("12500.5", "12,500.5", "12,500.50"),
        (12500, "12,500", "12,500.00"),
        ("1000000", "1,000,000", "1,000,000.00"),
        ("-3.25", "-3.25", "-3.25"),
        ("abc", "abc", "abc"),
    ],
)
def test_numbers_and_money(value, as_number, as_money):
    assert render("{{ v|number }}", v=value) == as_number
    assert render("{{ v|money }}", v=value) == as_money
