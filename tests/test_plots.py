"""The book's palette stays distinguishable under simulated colour-vision deficiencies."""

import numpy as np
import pytest
from stepsize import plots

#: ΔE*ab below which two roles could be confused by a reader (about 10 is "clearly different").
MIN_DELTA_E = 12.0


def test_distances_are_zero_on_the_diagonal_and_known_for_black_white():
    d = plots.colour_distances(["#000000", "#FFFFFF"])
    assert d[0, 0] == 0 and d[0, 1] == pytest.approx(100.0, abs=0.1)  # L* from 0 to 100


def test_grey_is_unchanged_by_every_simulation():
    for vision in plots.CVD_MATRICES:
        d = plots.colour_distances(["#777777"], None)[0, 0]
        lin = plots._linear_rgb(["#777777"])
        assert np.allclose(lin @ plots.CVD_MATRICES[vision].T, lin, atol=2e-3), vision
        assert d == 0


@pytest.mark.parametrize("vision", [None, *plots.CVD_MATRICES])
def test_every_pair_of_roles_stays_apart(vision):
    names, cols = list(plots.COLORS), list(plots.COLORS.values())
    d = plots.colour_distances(cols, vision)
    np.fill_diagonal(d, np.inf)
    i, j = np.unravel_index(d.argmin(), d.shape)
    assert d[i, j] >= MIN_DELTA_E, f"{names[i]} and {names[j]} look alike ({vision}): ΔE {d[i, j]:.1f}"


@pytest.mark.parametrize("vision", [None, *plots.CVD_MATRICES])
def test_every_pair_of_a_series_stays_apart_and_none_is_the_theory_colour(vision):
    d = plots.colour_distances(list(plots.SERIES), vision)
    np.fill_diagonal(d, np.inf)
    assert d.min() >= MIN_DELTA_E, f"two series colours look alike ({vision}): ΔE {d.min():.1f}"
    assert plots.COLORS["theory"] not in plots.SERIES


def test_the_check_catches_red_against_green():
    # matplotlib's default red and green: far apart to normal vision, close under deuteranopia
    red, green = "#D62728", "#2CA02C"
    assert plots.colour_distances([red, green])[0, 1] > 100
    assert plots.colour_distances([red, green], "deuteranopia")[0, 1] < MIN_DELTA_E
