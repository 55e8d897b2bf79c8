"""A gate's request as the flow run fills it in: templates over the flow's parameters, values
the flow gives at run time, and a clear error naming the field when either is missing."""

from __future__ import annotations

import pytest

from tracline.errors import ValidationError
from tracline_prefect import AT_RUN_TIME
from tracline_prefect._spec import is_deferred, render_request

REQUEST = {"title": "Retrain {model} ({cfg[size]})", "hours": "{hours}",
           "datasets": AT_RUN_TIME, "budget": 50}


def test_templates_are_filled_from_the_flow_parameters() -> None:
    """{name} and {name[key]} take the flow run's parameter values; others stay as given."""
    rendered = render_request(REQUEST, {"model": "churn", "cfg": {"size": "xl"}, "hours": 2},
                              {"datasets": ["/data/train.npy"]})
    assert rendered == {"title": "Retrain churn (xl)", "hours": "2",
                        "datasets": ["/data/train.npy"], "budget": 50}


def test_unknown_parameter_names_the_field_and_the_parameters() -> None:
    """A template naming a parameter the flow run lacks says which field and which exist."""
    with pytest.raises(ValidationError, match=r"request\.hours") as caught:
        render_request(REQUEST, {"model": "churn", "cfg": {"size": "xl"}}, {"datasets": ["x"]})
    assert caught.value.hint == "its parameters: cfg, model"


def test_run_time_field_not_given_says_how_to_give_it() -> None:
    """A field marked AT_RUN_TIME that wait() did not get is named, with the call to make."""
    with pytest.raises(ValidationError, match=r"request\.datasets") as caught:
        render_request(REQUEST, {"model": "m", "cfg": {"size": "s"}, "hours": 1}, {})
    assert caught.value.hint == "call wait(datasets=...)"


def test_unknown_field_given_at_run_time_is_refused() -> None:
    """wait(colour=...) is not a request field and says which fields there are."""
    with pytest.raises(ValidationError, match=r"request\.colour"):
        render_request(REQUEST, {}, {"colour": "blue"})


@pytest.mark.parametrize(("value", "deferred"), [
    ("plain text", False), ("{model}", True), (["a", "{b}"], True), ({"k": "{v}"}, True),
    (AT_RUN_TIME, True), (4, False), ("{{literal}}", False), ("{broken", False),
])
def test_deferred_values(value: object, deferred: bool) -> None:
    """Templates (anywhere in a list or mapping) and AT_RUN_TIME wait for the run; literal
    braces and plain values do not."""
    assert is_deferred(value) is deferred
