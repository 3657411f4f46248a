"""Temperature schedules: monotone non-increasing, floored, and strict about their arguments."""

import math

import pytest

import hardattn_utils as ha

STEPS = range(0, 20_001, 7)
SCHEDULES = {
    "exponential": ha.ExponentialSchedule(start=5.0, end=0.1, num_steps=10_000),
    "jang": ha.JangSchedule(rate=3e-4, floor=0.5, every=500),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_is_monotone_and_floored(name):
    schedule = SCHEDULES[name]
    taus = [schedule(t) for t in STEPS]
    assert all(later <= earlier for earlier, later in zip(taus, taus[1:], strict=False))
    floor = schedule.floor
    assert min(taus) >= floor
    assert math.isclose(taus[-1], floor)  # long after the decay, the floor is reached


def test_exponential_endpoints_and_midpoint():
    schedule = ha.ExponentialSchedule(start=5.0, end=0.1, num_steps=1000)
    assert schedule(0) == 5.0
    assert math.isclose(schedule(500), 5.0 * (0.1 / 5.0) ** 0.5)
    assert math.isclose(schedule(1000), 0.1) and schedule(10**6) == 0.1


def test_jang_holds_between_updates():
    schedule = ha.JangSchedule(rate=1e-3, floor=0.5, every=100)
    assert schedule(0) == schedule(99) == 1.0
    assert math.isclose(schedule(100), math.exp(-0.1)) and schedule(150) == schedule(100)
    assert schedule(10**6) == 0.5


def test_schedule_plugs_into_a_callable_hyper_parameter():
    frame = ha.schedule_frame(SCHEDULES, [0, 5000, 20_000])
    assert list(frame.columns) == ["schedule", "step", "tau"] and len(frame) == 6


@pytest.mark.parametrize(
    ("factory", "kwargs", "argument"),
    [
        (ha.ExponentialSchedule, {"start": 0.0}, "start"),
        (ha.ExponentialSchedule, {"end": -1.0}, "end"),
        (ha.ExponentialSchedule, {"end": float("nan")}, "end"),
        (ha.ExponentialSchedule, {"start": 1.0, "end": 2.0}, "end"),
        (ha.ExponentialSchedule, {"num_steps": 0}, "num_steps"),
        (ha.JangSchedule, {"rate": 0.0}, "rate"),
        (ha.JangSchedule, {"floor": 0.0}, "floor"),
        (ha.JangSchedule, {"floor": 2.0}, "floor"),
        (ha.JangSchedule, {"every": 0}, "every"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(factory, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        factory(**kwargs)


@pytest.mark.parametrize(
    ("factory", "kwargs", "argument"),
    [
        (ha.ExponentialSchedule, {"start": "5"}, "start"),
        (ha.ExponentialSchedule, {"num_steps": 10.0}, "num_steps"),
        (ha.JangSchedule, {"every": True}, "every"),
    ],
)
def test_bad_types_raise_type_error_naming_them(factory, kwargs, argument):
    with pytest.raises(TypeError, match=argument):
        factory(**kwargs)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_negative_step_is_rejected(name):
    with pytest.raises(ValueError, match="step"):
        SCHEDULES[name](-1)
